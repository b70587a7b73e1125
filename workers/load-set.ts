/**
 * Files -> PersonaSet inside the worker, through the core readers (src/core/persona/load.ts):
 * the one place the worker reaches them.
 */
import { loadPersonaSet } from '../src/core/persona/load';
import type { LoadOptions, PersonaSet, VirtualFile } from '../src/core/persona/types';

export function loadSetFromFiles(files: VirtualFile[], opts: LoadOptions): Promise<PersonaSet> {
  return loadPersonaSet(files, opts);
}
