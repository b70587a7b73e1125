/**
 * Every failure a user can cause becomes a PersonaSpaceError: a machine-readable `code`
 * and a `message` that is one sentence a person understands. Callers show `message` as is.
 */
export class PersonaSpaceError extends Error {
  readonly code: string;
  /** Extra facts for logs and tests (offsets, names, sizes); never needed to understand `message`. */
  readonly details?: Record<string, unknown>;
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'PersonaSpaceError';
    this.code = code;
    this.details = details;
  }
}

/** A file's bytes do not form a valid file of the format it claims to be (or of any known format). */
export class FormatError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'FormatError';
  }
}

/** A pickle asked for a global outside the allow-list; nothing was executed. */
export class UnsafePickleError extends FormatError {
  readonly global: string;
  constructor(global: string, details?: Record<string, unknown>) {
    super(
      'unsafe-pickle',
      `Refused to load: the pickle asks for "${global}", which is not a tensor-rebuilding function; nothing was executed.`,
      { global, ...details },
    );
    this.name = 'UnsafePickleError';
    this.global = global;
  }
}

/** Shapes, names or layers that do not fit together (the files are valid, the set is not). */
export class DataError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'DataError';
  }
}

export function isPersonaSpaceError(e: unknown): e is PersonaSpaceError {
  return e instanceof PersonaSpaceError;
}
