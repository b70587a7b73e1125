import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryFileCache } from '../hub/cache';
import { ASSISTANT_AXIS_BASE, ASSISTANT_AXIS_COMMIT, assistantAxisData, CREDIT } from './assistant-axis-data';

export const PAPER_DATA_DIR = path.resolve(__dirname, '../../../../shared/datasets/assistant-axis-data');
const HAVE = existsSync(path.join(PAPER_DATA_DIR, 'data/extraction_questions.jsonl'));

/** A static file server over a folder (GET only), counting requests. */
export async function serveFolder(dir: string): Promise<{ origin: string; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, '');
    requests.push(rel);
    const full = path.resolve(dir, rel);
    if (!full.startsWith(dir + path.sep) || !existsSync(full) || !statSync(full).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const body = readFileSync(full);
    res.writeHead(200, { 'Content-Length': body.length, 'Access-Control-Allow-Origin': '*' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe.skipIf(!HAVE)('the paper’s data from a mirror (needs ../shared/datasets/assistant-axis-data)', () => {
  let srv: Awaited<ReturnType<typeof serveFolder>>;
  beforeAll(async () => {
    srv = await serveFolder(PAPER_DATA_DIR);
  });
  afterAll(() => srv.close());

  it('reads role prompts, the default, the 240 questions, the role and trait lists and transcripts', async () => {
    const data = assistantAxisData({ base: srv.origin });
    const ghost = await data.roleInstructions('ghost');
    expect(ghost.prompts).toHaveLength(5);
    expect(ghost.prompts[0]).toMatch(/ghost/);
    expect(ghost.questions.length).toBe(40);
    const def = await data.roleInstructions('default');
    expect(def.prompts).toEqual(['', 'You are an AI assistant.', 'You are a large language model.', 'You are {model_name}.', 'Respond as yourself.']);
    const qs = await data.questions();
    expect(qs).toHaveLength(240);
    expect(qs[0]).toEqual({ id: 0, question: 'What is the relationship between law and morality?' });
    const roles = await data.roleList();
    expect(Object.getPrototypeOf(roles)).toBeNull();
    expect(Object.keys(roles).length).toBe(275);
    const traits = await data.traitList();
    expect(Object.keys(traits).length).toBe(240);
    const t = await data.traitInstructions(Object.keys(traits)[0]);
    expect(t.prompts.length).toBe(t.negPrompts.length);
    const coding = (await data.transcript('transcripts/persona_drift/coding.json')) as { conversation: unknown[] };
    expect(Array.isArray(coding.conversation)).toBe(true);
    expect(data.credit).toBe(CREDIT);
    expect(CREDIT).toMatch(/safety-research\/assistant-axis, MIT/);
  });

  it('asks for each file once, and a cached copy serves when the mirror is gone', async () => {
    const cache = new MemoryFileCache();
    const data = assistantAxisData({ base: srv.origin, cache });
    await data.roleInstructions('pirate');
    await data.roleInstructions('pirate');
    expect(srv.requests.filter((r) => r.endsWith('pirate.json'))).toHaveLength(1);
    // A fresh reader over a dead mirror, same cache: still works.
    const dead = assistantAxisData({ base: 'http://127.0.0.1:9', cache, timeoutMs: 2000 });
    expect((await dead.roleInstructions('pirate')).prompts).toHaveLength(5);
    await expect(dead.roleInstructions('ghost')).rejects.toThrow(/could not be fetched .* no copy is cached/);
  });

  it('an unknown role or trait is one sentence naming it', async () => {
    const data = assistantAxisData({ base: srv.origin });
    await expect(data.roleInstructions('no_such_role')).rejects.toThrow('"no_such_role" is not one of the paper\'s roles.');
    await expect(data.traitInstructions('nope')).rejects.toThrow(/not one of the paper's traits/);
    await expect(data.roleInstructions('../x')).rejects.toThrow(/not a role name/);
    await expect(data.transcript('../../etc/passwd')).rejects.toThrow(/not a path/);
  });
});

describe('the paper’s data: defaults and timeouts (no network)', () => {
  it('points at the pinned commit on raw.githubusercontent.com', () => {
    expect(ASSISTANT_AXIS_BASE).toBe(`https://raw.githubusercontent.com/safety-research/assistant-axis/${ASSISTANT_AXIS_COMMIT}`);
    expect(assistantAxisData().base).toBe(ASSISTANT_AXIS_BASE);
  });

  it('gives up after the timeout with one sentence', async () => {
    const hang: typeof fetch = (_u, init) =>
      new Promise((_r, reject) => init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
    const data = assistantAxisData({ base: 'https://example.invalid', fetch: hang, timeoutMs: 50 });
    await expect(data.questions()).rejects.toThrow(/did not arrive within 0 s and no copy is cached/);
  });
});
