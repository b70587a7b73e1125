/**
 * The model worker's core in Node (onnxruntime-node, the built-in synthetic model): the chat RPC
 * end to end, the runtime RPC still working, and error codes surviving the worker boundary.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { PersonaSpaceError } from '../src/core/errors';
import { axisBundleFromTensor } from '../src/core/chat/axis';
import { writeNpy } from '../src/core/formats';
import { tensorFromF32 } from '../src/core/tensor';
import { REPLAY_LABEL } from '../src/core/chat/presets';
import type { ChatEvent } from '../src/core/chat/types';
import { parseConfig } from '../src/core/lm/config';
import { LmEngine } from '../src/core/lm/generate';
import { loadModelFiles, stopTokenIds } from '../src/core/lm/model-source';
import { createSession, type Ort } from '../src/core/lm/ort';
import { ChatTokenizer } from '../src/core/lm/tokenizer';
import { instrumentDecoder } from '../src/core/onnx/instrument';
import { ModelCore, guarded, toWorkerError, type ModelLoader } from './model-core';
import { ModelWorkerError, workerErrorFrom } from './model-protocol';

const PAPER_DATA = path.resolve(__dirname, '../../shared/datasets/assistant-axis-data');
const HAVE_PAPER_DATA = existsSync(path.join(PAPER_DATA, 'transcripts/persona_drift/therapy.json'));

/** The browser loader's Node twin: the same core steps, on onnxruntime-node. */
const nodeLoader: ModelLoader = async (source, _options, ctx) => {
  const files = await loadModelFiles(source, { signal: ctx.signal });
  const config = parseConfig(files.config);
  const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
  const inst = instrumentDecoder(files.model, { externalData: files.externalData, hiddenSize: config.hiddenSize });
  const session = await createSession(ortNode as unknown as Ort, inst, { logSeverityLevel: 3 });
  const engine = new LmEngine(ortNode, session, config, { style: inst.info.style });
  return {
    engine,
    tokenizer,
    info: {
      label: files.label, backend: 'wasm', runtime: 'onnxruntime-web', reason: 'onnxruntime-node (test)', threads: 1, numLayers: config.numLayers, hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize, modelType: config.modelType, style: inst.info.style, residDtype: inst.info.residDtype,
      stopIds: stopTokenIds(files.config, files.generationConfig, tokenizer.eosId), bytes: files.bytes, loadMs: 0, warnings: [],
    },
  };
};

/** What the page receives: the guarded core, with the client's rethrow. */
async function viaBoundary<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    // Comlink carries an Error's name and message; the client maps them back.
    const crossed = Object.assign(new Error((e as Error).message), { name: (e as Error).name });
    throw workerErrorFrom(crossed);
  }
}

async function codeOf(p: () => unknown): Promise<{ code: string; message: string }> {
  try {
    await viaBoundary(async () => p());
  } catch (e) {
    expect(e).toBeInstanceOf(ModelWorkerError);
    return { code: (e as ModelWorkerError).code, message: (e as ModelWorkerError).message };
  }
  throw new Error('expected a failure');
}

async function serve(dir: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const full = path.resolve(dir, decodeURIComponent((req.url ?? '/').split('?')[0]).replace(/^\/+/, ''));
    if (!full.startsWith(dir + path.sep) || !existsSync(full) || !statSync(full).isFile()) return void res.writeHead(404).end();
    const body = readFileSync(full);
    res.writeHead(200, { 'Content-Length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

describe('model worker core', () => {
  const core = new ModelCore(nodeLoader);
  const api = guarded(core);
  const L = 4;
  const D = 64;
  const axis = () => axisBundleFromTensor(new Float32Array(L * D).map((_, i) => Math.cos(i * 0.41)), { numLayers: L, hiddenSize: D }, 'test axis');

  afterAll(() => core.dispose());

  it('error codes survive the boundary: no model, bad request, webgpu-unavailable, anything else', async () => {
    expect(await codeOf(() => api.chatSend('hi'))).toEqual({ code: 'no-model', message: 'No model is loaded yet.' });
    expect((await codeOf(() => api.generate({ maxNewTokens: 1 }))).code).toBe('no-model');
    // Older code paths throw plain Errors named by their code (model-load's WebGPU refusal).
    const e = toWorkerError(Object.assign(new Error('WebGPU adapter unavailable: navigator.gpu missing'), { name: 'webgpu-unavailable' }));
    expect(workerErrorFrom(e)).toMatchObject({ code: 'webgpu-unavailable', message: 'WebGPU adapter unavailable: navigator.gpu missing' });
    expect(workerErrorFrom(toWorkerError(new TypeError('x is undefined')))).toMatchObject({ code: 'internal' });
    expect(workerErrorFrom(toWorkerError(new PersonaSpaceError('axis-shape', 'One sentence.')))).toBeInstanceOf(ModelWorkerError);
  });

  it('loads the synthetic model; the axis is checked against it; chat before an axis says so', async () => {
    const info = await api.load({ kind: 'synthetic', seed: 3 });
    expect(info.numLayers).toBe(L);
    expect((await codeOf(() => api.chatSend('hi'))).code).toBe('no-axis');
    const wrong = axisBundleFromTensor(new Float32Array(3 * 10).fill(1), { numLayers: 3, hiddenSize: 10 }, 'other model');
    const bad = await codeOf(() => api.setAxis(wrong));
    expect(bad.code).toBe('axis-shape');
    expect(bad.message).toMatch(/\(3, 10\).*4 layers of hidden size 64/);
    const summary = api.setAxis(axis());
    expect(summary.defaultLayer).toBe(2);
    expect(summary.defaultCapWindow).toEqual([2]);
    expect(summary.norms).toHaveLength(L);
    expect(summary.roleSd).toBeNull();
  });

  it('an axis file is read in the worker against the model: .npy (n_layers, d) and (d,); a mismatch names both shapes; small axes come back for links', async () => {
    const values = new Float32Array(L * D).map((_, i) => Math.sin(i * 0.23) + 0.1);
    const npy = writeNpy(tensorFromF32(values, [L, D]));
    const summary = api.setAxisFile('assistant_axis.npy', npy);
    expect(summary.label).toBe('assistant_axis.npy');
    for (let l = 0; l < L; l++) {
      let n = 0;
      for (let j = 0; j < D; j++) n += values[l * D + j] ** 2;
      expect(summary.norms[l]).toBeCloseTo(Math.sqrt(n), 4);
    }
    expect(Array.from(api.axisValues(L * D)!)).toEqual(Array.from(values));
    expect(api.axisValues(L * D - 1)).toBeNull();
    // (d,): one direction at every layer.
    api.setAxisFile('direction.npy', writeNpy(tensorFromF32(values.subarray(0, D), [D])));
    const rep = api.axisValues(L * D)!;
    for (let l = 0; l < L; l++) expect(Array.from(rep.subarray(l * D, (l + 1) * D))).toEqual(Array.from(values.subarray(0, D)));
    const bad = await codeOf(() => api.setAxisFile('other.npy', writeNpy(tensorFromF32(new Float32Array(3 * 10).fill(1), [3, 10]))));
    expect(bad.code).toBe('axis-shape');
    expect(bad.message).toMatch(/\(3, 10\).*4 layers of hidden size 64/);
    // The failed file changed nothing: the last good axis stays.
    expect(Array.from(api.axisValues(L * D)!)).toEqual(Array.from(rep));
    expect((await codeOf(() => api.setAxisFile('junk.npy', new Uint8Array([1, 2, 3, 4])))).message.length).toBeGreaterThan(10);
    api.setAxis(axis());
  });

  it('send streams every visible pane, the export equals the snapshot, undo gives the text back, busy is refused', async () => {
    const resolved = api.chatSettings({ sampling: { temperature: 0, maxTokens: 6 }, panes: { steered: { steer: { amount: 3 } }, capped: { cap: { threshold: { kind: 'fixed', tau: 0.5 } } } } });
    expect(resolved.panes.steered.steerAlpha[2]).toBeCloseTo(3 * summaryNorm(2), 4);
    expect(resolved.panes.capped.capTau[2]).toBe(0.5);
    const events: ChatEvent[] = [];
    const running = api.chatSend('Who are you?', (e) => events.push(e));
    expect((await codeOf(() => api.chatSend('again'))).code).toBe('busy');
    const snap = await running;
    for (const p of ['default', 'steered', 'capped'] as const) {
      expect(events.some((e) => e.kind === 'token' && e.pane === p)).toBe(true);
      expect(events.some((e) => e.kind === 'done' && e.pane === p)).toBe(true);
    }
    const ex = api.chatExport();
    expect(ex.format).toBe('persona-space-chat');
    const paneEx = (ex.panes as Record<string, { ids: number[]; messages: { generated: { mean: number[] } | null; read: { mean: number[] } | null; span: number[] }[] }>);
    for (const p of ['default', 'steered', 'capped'] as const) {
      expect(paneEx[p].ids).toEqual(snap.panes[p]!.ids);
      snap.panes[p]!.messages.forEach((m, i) => {
        if (!m.generated?.mean) return;
        paneEx[p].messages[i].generated!.mean.forEach((x, l) => expect(x).toBeCloseTo(m.generated!.mean![l], 5));
      });
    }
    const tv = await api.chatTurnVectors('default', 'generated');
    expect(tv.layer).toBe(2);
    expect(tv.vectors).toHaveLength(1);
    expect(tv.vectors[0]).toHaveLength(D);
    const u = api.chatUndo();
    expect(u.userText).toBe('Who are you?');
    expect(u.snapshot.panes.default!.messages).toHaveLength(0);
  });

  it('stop ends an answer and the engine stays usable: the runtime RPC (generate) still works', async () => {
    api.chatSettings({ sampling: { maxTokens: 200 } });
    let n = 0;
    const snap = await api.chatSend('Talk for a while.', (e) => {
      if (e.kind === 'token' && ++n === 2) api.chatStop();
    });
    expect(snap.panes.default!.messages[1].stopReason).toBe('interrupted');
    const g = await api.generate({ messages: [{ role: 'user', content: 'hi' }], maxNewTokens: 3, stopIds: [], params: { axis: axis().axis } });
    expect(g.ids).toHaveLength(3);
    expect(g.projections[0]).toHaveLength(L);
    const again = await api.chatSend('Still there?');
    expect(again.panes.capped!.messages.filter((m) => m.role === 'assistant')).toHaveLength(2);
  });

  it.skipIf(!HAVE_PAPER_DATA)('a preset from the paper (served locally) loads, replays with the honest label, and reads', async () => {
    const srv = await serve(PAPER_DATA);
    try {
      const list = api.presets();
      expect(list.map((p) => p.id)).toContain('drift:therapy');
      expect(list.find((p) => p.id === 'case:qwen-3-32b:selfharm:unsteered')!.path).toMatch(/\.json\.json$/);
      const p = await api.loadPreset('drift:therapy', srv.origin);
      expect(p.label).toBe(REPLAY_LABEL);
      expect(p.credit).toMatch(/safety-research\/assistant-axis, MIT/);
      expect(p.userTurns.length).toBeGreaterThan(5);
      api.chatReset();
      api.chatSettings({ sampling: { maxTokens: 3 } });
      const r = await api.chatReplay(p.userTurns.slice(0, 2));
      expect(r.panes.default!.messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(p.userTurns.slice(0, 2));
      // The whole transcript is longer than this tiny model's context: one sentence, and the worker stays usable.
      const tooLong = await codeOf(() => api.chatReadTranscript(p.messages));
      expect(tooLong.code).toBe('too-long');
      expect(tooLong.message).toMatch(/at most 2048/);
      // ... and the conversation on screen is still there.
      expect((await api.chatSnapshot()).panes.default!.messages.filter((m) => m.role === 'user')).toHaveLength(2);
      const read = await api.chatReadTranscript([p.messages[0], { role: 'assistant', content: p.messages[1].content.slice(0, 300) }]);
      expect(read.panes.default!.messages.every((m) => m.read?.mean && m.generated?.mean)).toBe(true);
      expect((api.chatExport().source as { label: string }).label).toBe(REPLAY_LABEL);
    } finally {
      await srv.close();
    }
    expect((await codeOf(() => api.loadPreset('drift:nope'))).code).toBe('unknown-preset');
  });

  function summaryNorm(l: number): number {
    const a = axis().axis.subarray(l * D, (l + 1) * D);
    return Math.hypot(...a);
  }

});
