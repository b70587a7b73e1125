/**
 * Where the CLI's persona sets come from, one rule for every command: a source argument is a
 * file or a folder on disk (with the names file `convert` wrote beside an array), a URL (a file,
 * a hub folder, `hf://...`), `release:<model>`, `synthetic:N[xL][dD]` or `extraction:<folder>`
 * (an `extract --out` folder). Each becomes a PersonaSource (src/core/persona/source.ts) and loads
 * through the same `loadPersonaSource` as the app. Node-only file access lives here: a path as the
 * VirtualFiles every core loader takes (folders walked recursively; dotfiles skipped).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { flagList, flagString, UsageError, type ParsedArgs } from './args';
import { DataError } from '../src/core/errors';
import { loadFromUrl, loadRelease, releaseModel } from '../src/core/hub';
import { loadPersonaSource, parseSourceText, type LoadedSource, type PersonaSource, type SourceDeps, type SourceLoadOptions } from '../src/core/persona/source';
import { syntheticPersonaSet } from '../src/core/persona/synthetic';
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

/** Text that names a source other than a path: a URL, `release:`, `synthetic:` or `extraction:`. */
const NOT_A_PATH = /^(?:[a-z][a-z0-9+.-]*:\/\/|release:|synthetic:|extraction:)/i;

/**
 * Paths on disk -> a `files` source; several paths may be given (e.g. an array and its names
 * file). A lone .npy / .tsv picks up the names file `convert` wrote beside it (unless names are given).
 */
export async function filesSource(p: string | string[], opts: { names?: readonly string[] } = {}): Promise<PersonaSource> {
  const paths = Array.isArray(p) ? [...p] : [p];
  const st = paths.length === 1 ? await stat(paths[0]).catch(() => null) : null;
  const label = paths.length === 1 ? (st?.isDirectory() ? `${path.basename(path.resolve(paths[0]))}/` : path.basename(paths[0])) : paths.map((x) => path.basename(x)).join(' + ');
  if (paths.length === 1 && !opts.names) {
    const beside = await companionNames(paths[0]);
    if (beside) paths.push(beside);
  }
  const files = (await Promise.all(paths.map(virtualFilesFromPath))).flat();
  return { kind: 'files', files, label };
}

/** A source argument (see the module comment) -> a PersonaSource. */
export async function cliPersonaSource(text: string | string[], opts: { names?: readonly string[] } = {}): Promise<PersonaSource> {
  if (!Array.isArray(text) && NOT_A_PATH.test(text.trim())) return parseSourceText(text);
  return filesSource(text, opts);
}

/** The files of an `extract --out` folder that make its persona set (the release layout it wrote). */
export async function extractionFiles(dir: string): Promise<VirtualFile[]> {
  const all = await virtualFilesFromPath(dir);
  const keep = all.filter((f) => /^(?:role_vectors|trait_vectors)\//.test(f.path) || /^(?:default_vector|assistant_axis)\.pt$/.test(f.path));
  if (keep.length === 0) throw new DataError('extraction-empty', `"${dir}" holds no role_vectors/ or default_vector.pt; is it an extract --out folder with a finished run?`);
  return keep;
}

/** What the CLI gives loadPersonaSource: the hub loaders (Node's fetch, their timeouts and retries), the synthetic generator, extraction folders. */
export function cliSourceDeps(): SourceDeps {
  return {
    loadUrl: (url, o) => loadFromUrl(url, o),
    loadRelease: (o) => loadRelease(o),
    releaseLabel: (id) => releaseModel(id),
    synthetic: (p) => syntheticPersonaSet({ n: p.n, layers: p.layers, dim: p.dim, seed: p.seed }),
    readExtraction: (runId) => extractionFiles(runId),
  };
}

/** Load any source argument (see the module comment). */
export async function loadCliSource(text: string | string[], opts: SourceLoadOptions = {}, deps: SourceDeps = cliSourceDeps()): Promise<LoadedSource> {
  return loadPersonaSource(await cliPersonaSource(text, { names: opts.names }), deps, opts);
}

/** Load a PersonaSet from a file or folder path (or several), as `loadCliSource` does. */
export async function loadPersonaSetFromPath(p: string | string[], opts: LoadOptions = {}): Promise<PersonaSet> {
  return (await loadPersonaSource(await filesSource(p, { names: opts.names }), {}, opts)).set;
}

/** The source flags every persona command takes (besides --json and --help). */
export const SOURCE_FLAGS = ['default', 'names', 'data-only', 'hub', 'json', 'help'];

/** Names from a JSON list of strings or a text file with one name per line. */
export async function readNamesFile(file: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readFile(file));
  const t = text.trim();
  if (t.startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      throw new DataError('names-file', `"${file}" starts like a JSON list but is not valid JSON.`);
    }
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new DataError('names-file', `"${file}" is not a JSON list of names.`);
    return v as string[];
  }
  const names = t.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new DataError('names-file', `"${file}" holds no names.`);
  return names;
}

/**
 * A source argument with the shared flags (--default a,b, --names FILE, --data-only, --hub URL)
 * -> its PersonaSet.
 */
export async function loadSource(
  source: string | undefined,
  args: ParsedArgs,
  { defaultFlag = 'default', namesFlag = 'names', what = 'source' }: { defaultFlag?: string; namesFlag?: string; what?: string } = {},
): Promise<PersonaSet> {
  if (!source) throw new UsageError(`Give a ${what}: a file or a folder of vectors (or a URL, release:<model>, synthetic:<n>).`);
  const opts: SourceLoadOptions = {};
  const def = flagList(args, defaultFlag);
  if (def) {
    if (def.length === 0) throw new UsageError(`Option --${defaultFlag} needs at least one member name.`);
    opts.defaultNames = def;
  }
  const namesFile = flagString(args, namesFlag);
  if (namesFile) opts.names = await readNamesFile(namesFile);
  if (args.flags.get('data-only') === true) opts.dataOnly = true;
  const hub = flagString(args, 'hub');
  if (hub) opts.hub = hub;
  return (await loadCliSource(source, opts)).set;
}
