/**
 * Node-only file access for the CLI, tests and benchmarks: a path (file or folder) as the
 * VirtualFiles every core loader takes. Folders are walked recursively; dotfiles are skipped.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../src/core/errors';
import { loadPersonaSet } from '../src/core/persona/load';
import type { LoadOptions, PersonaSet, VirtualFile } from '../src/core/persona/types';

function fileAt(abs: string, rel: string, size: number): VirtualFile {
  return {
    path: rel,
    size,
    async read() {
      const b = await readFile(abs);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    },
  };
}

/** A file, or every non-hidden file under a folder (paths relative to it, '/'-separated, sorted). */
export async function virtualFilesFromPath(p: string): Promise<VirtualFile[]> {
  let st;
  try {
    st = await stat(p);
  } catch {
    throw new DataError('not-found', `"${p}" does not exist.`);
  }
  if (st.isFile()) return [fileAt(p, path.basename(p), st.size)];
  if (!st.isDirectory()) throw new DataError('not-a-file', `"${p}" is neither a file nor a folder.`);
  const out: VirtualFile[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const abs = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(abs, r);
      else if (e.isFile() || e.isSymbolicLink()) {
        const s = await stat(abs).catch(() => null);
        if (s?.isFile()) out.push(fileAt(abs, r, s.size));
      }
    }
  };
  await walk(p, '');
  if (out.length === 0) throw new DataError('empty', `The folder "${p}" holds no files.`);
  return out;
}

/**
 * The names file `convert` writes beside an array: `<stem>.names.json` for `<stem>.npy`,
 * `<stem>.metadata.tsv` for `<stem>.tsv`; null when there is none (or names were given).
 */
export async function companionNames(file: string): Promise<string | null> {
  const ext = path.extname(file).toLowerCase();
  const stem = file.slice(0, file.length - ext.length);
  const candidate = ext === '.npy' ? `${stem}.names.json` : ext === '.tsv' ? `${stem}.metadata.tsv` : null;
  if (!candidate) return null;
  const st = await stat(candidate).catch(() => null);
  return st?.isFile() ? candidate : null;
}

/**
 * Load a PersonaSet from a file or folder path; several paths may be given (e.g. an array and its
 * names file). A lone .npy / .tsv picks up the names file `convert` wrote beside it.
 */
export async function loadPersonaSetFromPath(p: string | string[], opts: LoadOptions = {}): Promise<PersonaSet> {
  const paths = Array.isArray(p) ? [...p] : [p];
  if (paths.length === 1 && !opts.names) {
    const beside = await companionNames(paths[0]);
    if (beside) paths.push(beside);
  }
  const files = (await Promise.all(paths.map(virtualFilesFromPath))).flat();
  return loadPersonaSet(files, opts);
}
