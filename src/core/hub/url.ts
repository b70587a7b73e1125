/**
 * Hugging Face hub addresses: building file and tree-API URLs (the scheme HF_ENDPOINT mirrors
 * use too), and understanding the addresses people paste.
 */
import { HubError } from './errors';

export const DEFAULT_HUB = 'https://huggingface.co';

export type RepoType = 'model' | 'dataset';

export interface HubLocation {
  /** Origin of the hub (no trailing slash), e.g. `https://huggingface.co` or `http://127.0.0.1:5123`. */
  hub?: string;
  /** `owner/name`. */
  repo: string;
  type?: RepoType;
  /** Branch, tag or commit; default `main`. */
  revision?: string;
}

function trimHub(hub: string | undefined): string {
  return (hub ?? DEFAULT_HUB).replace(/\/+$/, '');
}

/** Each segment percent-encoded, '/' kept (so `refs/pr/1` and names with spaces survive). */
function encodePath(path: string): string {
  return path
    .split('/')
    .filter((s) => s.length > 0)
    .map(encodeURIComponent)
    .join('/');
}

function repoPrefix(type: RepoType | undefined): string {
  return type === 'dataset' ? 'datasets/' : '';
}

/** `<hub>/[datasets/]<repo>/resolve/<revision>/<path>` */
export function hubFileUrl(loc: HubLocation & { path: string }): string {
  const rev = encodeURIComponent(loc.revision ?? 'main');
  return `${trimHub(loc.hub)}/${repoPrefix(loc.type)}${loc.repo}/resolve/${rev}/${encodePath(loc.path)}`;
}

/** `<hub>/api/<type>s/<repo>/tree/<revision>/<path>[?recursive=true]` (HF's tree API). */
export function hubTreeUrl(loc: HubLocation & { path?: string; recursive?: boolean }): string {
  const rev = encodeURIComponent(loc.revision ?? 'main');
  const p = encodePath(loc.path ?? '');
  const base = `${trimHub(loc.hub)}/api/${loc.type ?? 'model'}s/${loc.repo}/tree/${rev}${p ? '/' + p : ''}`;
  return loc.recursive ? `${base}?recursive=true` : base;
}

/** `<hub>/[datasets/]<repo>/tree/<revision>/<path>`: the address a person sees in the browser. */
export function hubFolderPageUrl(loc: HubLocation & { path?: string }): string {
  const rev = encodeURIComponent(loc.revision ?? 'main');
  const p = encodePath(loc.path ?? '');
  return `${trimHub(loc.hub)}/${repoPrefix(loc.type)}${loc.repo}/tree/${rev}${p ? '/' + p : ''}`;
}

/** What a pasted address points to. */
export type ParsedSource =
  /** A folder (or whole repo) on a hub: list it with the tree API. */
  | { kind: 'hub-folder'; hub: string; repo: string; type: RepoType; revision: string; path: string }
  /** One file on a hub. */
  | { kind: 'hub-file'; hub: string; repo: string; type: RepoType; revision: string; path: string; url: string }
  /** Any other http(s) file. */
  | { kind: 'url'; url: string };

/** File names that mark an `hf://` path as a file rather than a folder. */
const FILE_EXT = /\.(pt|pth|bin|safetensors|npy|npz|json|jsonl|tsv|txt|csv|onnx|onnx_data|gguf)$|\.onnx_data_\d+$/i;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkRepo(owner: string | undefined, name: string | undefined, input: string): string {
  if (!owner || !name || !NAME_RE.test(owner) || !NAME_RE.test(name)) {
    throw new HubError('bad-url', `"${input}" does not name a hub repository (expected owner/name).`, { url: input });
  }
  return `${owner}/${name}`;
}

/**
 * `decodeURIComponent` that fails with HubError `bad-url` (a sentence naming the address) rather than
 * a raw URIError when a percent-escape is malformed (`%zz`, a lone `%`, `%C3` without its second byte).
 */
export function decodeUrlPart(part: string, input: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2})|%[0-9a-fA-F]{2}/.exec(part)?.[0] ?? '%';
    throw new HubError('bad-url', `"${input}" has a malformed percent-escape near "${bad}" (write % as %25).`, { url: input, part });
  }
}

function decodeSegments(segs: string[], input: string): string {
  return segs.map((s) => decodeUrlPart(s, input)).join('/');
}

/**
 * Understand an address a person pasted:
 * - `<hub>/datasets/<owner>/<name>[/tree/<rev>/<path>]` and the model equivalent (a folder);
 * - `<hub>/datasets/<owner>/<name>/resolve|blob/<rev>/<path>` (a file);
 * - `hf://datasets/<owner>/<name>[@<rev>]/<path>` (`hf://<owner>/<name>/...` for models), resolved
 *   against `hub`; a path ending in a known file extension is a file, anything else a folder;
 * - any other http(s) URL: one file.
 * A URL is read as a hub address when its origin is `hub` or huggingface.co, or when its path has the
 * `/resolve/` or `/tree/` shape of one.
 */
export function parseSourceUrl(input: string, hub: string = DEFAULT_HUB): ParsedSource {
  const text = input.trim();
  const hubOrigin = trimHub(hub);
  if (/^hf:\/\//i.test(text)) {
    const rest = text.slice(5).split('?')[0].split('/').filter(Boolean);
    let type: RepoType = 'model';
    if (rest[0] === 'datasets') {
      type = 'dataset';
      rest.shift();
    } else if (rest[0] === 'models') rest.shift();
    const owner = rest[0];
    let name = rest[1];
    let revision = 'main';
    if (name && name.includes('@')) {
      const at = name.indexOf('@');
      revision = decodeUrlPart(name.slice(at + 1), text) || 'main';
      name = name.slice(0, at);
    }
    const repo = checkRepo(owner, name, text);
    const path = decodeSegments(rest.slice(2), text);
    if (path && FILE_EXT.test(path)) {
      return { kind: 'hub-file', hub: hubOrigin, repo, type, revision, path, url: hubFileUrl({ hub: hubOrigin, repo, type, revision, path }) };
    }
    return { kind: 'hub-folder', hub: hubOrigin, repo, type, revision, path };
  }
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new HubError('bad-url', `"${text}" is not a web address (expected https://..., or hf://datasets/owner/name/path).`, { url: text });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new HubError('bad-url', `"${text}" is not an http(s) address.`, { url: text });
  }
  const segs = u.pathname.split('/').filter(Boolean);
  const isKnownHub = u.origin === hubOrigin || u.host === 'huggingface.co' || u.host === 'hf.co';
  let type: RepoType = 'model';
  let i = 0;
  if (segs[0] === 'datasets') {
    type = 'dataset';
    i = 1;
  } else if (segs[0] === 'spaces') {
    return { kind: 'url', url: u.href };
  }
  const verb = segs[i + 2];
  const hubShaped = verb === 'resolve' || verb === 'tree' || verb === 'blob';
  if (isKnownHub || hubShaped) {
    if (segs.length >= i + 2 && (hubShaped || segs.length === i + 2) && !segs[i].startsWith('api')) {
      const repo = checkRepo(segs[i], segs[i + 1], text);
      const origin = u.origin;
      if (segs.length === i + 2) return { kind: 'hub-folder', hub: origin, repo, type, revision: 'main', path: '' };
      if (segs.length < i + 4) throw new HubError('bad-url', `"${text}" names a ${verb} page without a revision.`, { url: text });
      const revision = decodeUrlPart(segs[i + 3], text);
      const path = decodeSegments(segs.slice(i + 4), text);
      if (verb === 'tree') return { kind: 'hub-folder', hub: origin, repo, type, revision, path };
      if (!path) throw new HubError('bad-url', `"${text}" does not name a file in the repository.`, { url: text });
      return { kind: 'hub-file', hub: origin, repo, type, revision, path, url: hubFileUrl({ hub: origin, repo, type, revision, path }) };
    }
  }
  return { kind: 'url', url: u.href };
}
