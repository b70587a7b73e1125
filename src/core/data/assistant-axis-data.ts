/**
 * The paper's prompts, questions and transcripts (safety-research/assistant-axis, MIT), fetched at
 * run time from where they live, pinned to one commit, cached for offline use:
 *   https://raw.githubusercontent.com/safety-research/assistant-axis/<commit>/<path>
 * (that host answers with `Access-Control-Allow-Origin: *`). `base` points at a mirror instead
 * (tests serve ../shared/datasets/assistant-axis-data from a local HTTP server).
 *
 * With a cache, a file read once is read from the cache afterwards, so a run works offline; when
 * the network fails and nothing is cached, the error says so in one sentence.
 */
import { DataError, PersonaSpaceError } from '../errors';
import type { FileCache } from '../hub/cache';
import { fetchWithProgress } from '../hub/fetch';

export const ASSISTANT_AXIS_REPO = 'safety-research/assistant-axis';
export const ASSISTANT_AXIS_COMMIT = 'a98961956072224eaf244eb289d6c01700b63795';
export const ASSISTANT_AXIS_BASE = `https://raw.githubusercontent.com/${ASSISTANT_AXIS_REPO}/${ASSISTANT_AXIS_COMMIT}`;
/** Show wherever the data are used. */
export const CREDIT = 'Prompts, questions and transcripts: safety-research/assistant-axis, MIT';

/** Default wait for one file (ms). */
const DEFAULT_TIMEOUT_MS = 30_000;
/** The largest file we accept (the biggest transcript is a few MB). */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export class PaperDataError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'PaperDataError';
  }
}

export interface ExtractionQuestion {
  id: number;
  question: string;
}

/** A role's (or trait's) instruction file: the system prompts and, for roles, its own questions. */
export interface InstructionFile {
  /** The system prompts (`pos`), in file order (5 per role; the default's first is ""). */
  prompts: string[];
  /** Trait files also have the opposite prompts (`neg`); empty for roles. */
  negPrompts: string[];
  questions: string[];
  evalPrompt: string | null;
}

export interface AssistantAxisDataOptions {
  /** Where the repository's files are, without a trailing slash (default: raw.githubusercontent.com at the pinned commit). */
  base?: string;
  /** Any FileCache (BrowserFileCache in the app), or just get/put (a folder in the CLI). */
  cache?: Pick<FileCache, 'get' | 'put'>;
  fetch?: typeof fetch;
  /** Per-file timeout in ms (default 30 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface AssistantAxisData {
  readonly base: string;
  readonly credit: string;
  /** data/roles/instructions/<role>.json (`default` included). */
  roleInstructions(role: string): Promise<InstructionFile>;
  /** data/traits/instructions/<trait>.json. */
  traitInstructions(trait: string): Promise<InstructionFile>;
  /** data/extraction_questions.jsonl: the 240 shared questions, in file order. */
  questions(): Promise<ExtractionQuestion[]>;
  /** data/roles/role_list.json: role -> one-line description (null-prototype). */
  roleList(): Promise<Record<string, string>>;
  /** data/traits/trait_list.json: trait -> description (null-prototype). */
  traitList(): Promise<Record<string, string>>;
  /** Any JSON file of the repository, e.g. `transcripts/persona_drift/coding.json`. */
  transcript(path: string): Promise<unknown>;
  /** The raw bytes of any file of the repository. */
  file(path: string): Promise<Uint8Array>;
}

const NAME_RE = /^[A-Za-z0-9_-]{1,80}$/;

function checkName(name: string, what: string): void {
  if (!NAME_RE.test(name)) throw new DataError(`unknown-${what}`, `"${name}" is not a ${what} name (letters, digits, - and _ only).`);
}

function checkPath(p: string): void {
  if (!p || p.startsWith('/') || p.split('/').some((s) => s === '..' || s === '' || s === '.')) {
    throw new DataError('data-path', `"${p}" is not a path inside the paper's repository.`);
  }
}

function nullProto(o: Record<string, unknown>, file: string): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== 'string') throw new PaperDataError('data-format', `${file} maps "${k}" to something other than a description.`);
    out[k] = v;
  }
  return out;
}

function parseInstructions(v: unknown, file: string): InstructionFile {
  const o = v as { instruction?: unknown; questions?: unknown; eval_prompt?: unknown };
  if (!o || typeof o !== 'object' || !Array.isArray(o.instruction)) {
    throw new PaperDataError('data-format', `${file} has no "instruction" list, so it is not a role or trait file of the paper.`);
  }
  const prompts: string[] = [];
  const negPrompts: string[] = [];
  for (const item of o.instruction as unknown[]) {
    const it = item as { pos?: unknown; neg?: unknown };
    if (!it || typeof it.pos !== 'string') throw new PaperDataError('data-format', `${file} has an instruction without a "pos" prompt.`);
    prompts.push(it.pos);
    if (typeof it.neg === 'string') negPrompts.push(it.neg);
  }
  const questions = Array.isArray(o.questions) ? (o.questions as unknown[]).filter((q): q is string => typeof q === 'string') : [];
  return { prompts, negPrompts, questions, evalPrompt: typeof o.eval_prompt === 'string' ? o.eval_prompt : null };
}

export function assistantAxisData(opts: AssistantAxisDataOptions = {}): AssistantAxisData {
  const base = (opts.base ?? ASSISTANT_AXIS_BASE).replace(/\/+$/, '');
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const memo = new Map<string, Promise<unknown>>();

  async function file(p: string): Promise<Uint8Array> {
    checkPath(p);
    const url = `${base}/${p}`;
    // Cached under the canonical URL whatever the mirror: a mirror serves the same pinned files.
    const key = `${ASSISTANT_AXIS_BASE}/${p}`;
    const hit = await opts.cache?.get(key);
    if (hit) return hit;
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), timeoutMs);
    const onAbort = () => ctl.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const bytes = await fetchWithProgress(url, { fetch: opts.fetch, signal: ctl.signal, retries: 1 });
      if (bytes.length > MAX_FILE_BYTES) throw new PaperDataError('data-size', `${p} is ${bytes.length} bytes, more than any file of the paper's data; the mirror is wrong.`);
      await opts.cache?.put(key, bytes, `paper-data:${ASSISTANT_AXIS_COMMIT}`);
      return bytes;
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      const code = (e as { code?: string }).code;
      if (ctl.signal.aborted) {
        throw new PaperDataError('data-timeout', `The paper's data (${p}) did not arrive within ${Math.round(timeoutMs / 1000)} s and no copy is cached; check the connection and try again.`, { url });
      }
      if (code === 'not-found') throw new PaperDataError('data-not-found', `The paper's data has no file ${p} at ${base}.`, { url });
      if (code === 'network' || code === 'http' || code === 'forbidden') {
        throw new PaperDataError('data-unreachable', `The paper's prompts and questions could not be fetched (${p}) and no copy is cached; connect to the internet once, or point --data at a local copy.`, { url, cause: (e as Error).message });
      }
      throw e;
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  function json<T>(p: string, parse: (v: unknown) => T): Promise<T> {
    let hit = memo.get(p) as Promise<T> | undefined;
    if (!hit) {
      hit = file(p).then((b) => {
        let v: unknown;
        try {
          v = JSON.parse(new TextDecoder().decode(b));
        } catch {
          throw new PaperDataError('data-format', `${p} is not valid JSON; the mirror or cache holds something else.`);
        }
        return parse(v);
      });
      // A failure is not remembered: the next call tries again.
      hit.catch(() => memo.delete(p));
      memo.set(p, hit);
    }
    return hit;
  }

  const notFoundAs = (name: string, what: 'role' | 'trait') => (e: unknown) => {
    if ((e as { code?: string }).code === 'data-not-found') throw new DataError(`unknown-${what}`, `"${name}" is not one of the paper's ${what}s.`);
    throw e;
  };

  return {
    base,
    credit: CREDIT,
    async roleInstructions(role) {
      checkName(role, 'role');
      const p = `data/roles/instructions/${role}.json`;
      return json(p, (v) => parseInstructions(v, p)).catch(notFoundAs(role, 'role'));
    },
    async traitInstructions(trait) {
      checkName(trait, 'trait');
      const p = `data/traits/instructions/${trait}.json`;
      return json(p, (v) => parseInstructions(v, p)).catch(notFoundAs(trait, 'trait'));
    },
    questions() {
      const p = 'data/extraction_questions.jsonl';
      return (async () => {
        let hit = memo.get(p) as Promise<ExtractionQuestion[]> | undefined;
        if (!hit) {
          hit = file(p).then((b) => {
            const out: ExtractionQuestion[] = [];
            const lines = new TextDecoder().decode(b).split('\n');
            lines.forEach((line, i) => {
              if (!line.trim()) return;
              let o: { question?: unknown; id?: unknown };
              try {
                o = JSON.parse(line);
              } catch {
                throw new PaperDataError('data-format', `${p} line ${i + 1} is not valid JSON.`);
              }
              if (typeof o.question !== 'string' || typeof o.id !== 'number') throw new PaperDataError('data-format', `${p} line ${i + 1} lacks "question" or "id".`);
              out.push({ id: o.id, question: o.question });
            });
            return out;
          });
          hit.catch(() => memo.delete(p));
          memo.set(p, hit);
        }
        return hit;
      })();
    },
    roleList() {
      const p = 'data/roles/role_list.json';
      return json(p, (v) => nullProto(v as Record<string, unknown>, p));
    },
    traitList() {
      const p = 'data/traits/trait_list.json';
      return json(p, (v) => nullProto(v as Record<string, unknown>, p));
    },
    async transcript(p) {
      checkPath(p);
      return json(p, (v) => v);
    },
    file,
  };
}
