/**
 * A reader's error names no file (it only sees bytes); whoever knows the file's path puts it in
 * front, so a user with many files sees which one is bad.
 */
import { PersonaSpaceError, UnsafePickleError } from '../errors';

/** `e` with `"path": ` in front of its message (and `path` in its details); other errors as they are. */
export function errorNamingFile(e: unknown, path: string): unknown {
  if (!(e instanceof PersonaSpaceError) || e.message.includes(`"${path}"`)) return e;
  if (e instanceof UnsafePickleError) {
    const u = new UnsafePickleError(e.global, { ...e.details, path });
    u.message = `"${path}": ${e.message}`;
    return u;
  }
  const Ctor = e.constructor as new (code: string, message: string, details?: Record<string, unknown>) => PersonaSpaceError;
  return new Ctor(e.code, `"${path}": ${e.message}`, { ...e.details, path });
}
