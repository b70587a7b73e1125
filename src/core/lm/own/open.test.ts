/**
 * Opening our int8 decoder in steps (decoder.ts fromOnnxAsync, session.ts createOwnEngineAsync,
 * ../../steps.ts): the same decoder as the synchronous open (logits bit for bit, on one thread and
 * on a kernel pool), progress that only grows and ends at every linear and byte, the event loop's
 * turn between steps, and a cancel mid-way that rejects with an AbortError and leaves nothing
 * behind that a second open minds.
 */
import { describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { buildDecoder } from '../builder';
import { tinyModel } from '../builder/ort-node.testkit';
import type { Ort } from '../ort';
import { nodeKernelPool } from '../../../../workers/own-pool-node';
import { OwnDecoder, type OwnOpenProgress } from './decoder';
import { linearShapes, readOwnWeights } from './weights';
import { FormatError } from '../../errors';
import { createOwnEngine, createOwnEngineAsync } from './session';
import { runSteps, runStepsAsync } from '../../steps';

const NODE = ortNode as unknown as Ort;
const PROMPT = [5, 17, 42, 99, 3, 250, 7];
const { cfg, ck } = tinyModel('qwen3', 7, { num_hidden_layers: 3 });
const onnx = buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx;
const LINEARS = 4 * cfg.numLayers + 1;
const BYTES = [...linearShapes(cfg).values()].reduce((a, [N, K]) => a + N * K, 0);

const logitsOf = (d: OwnDecoder) => d.forward(PROMPT, d.newCache(), { taps: true });

describe('opening our int8 decoder in steps', () => {
  it('gives the synchronous open\'s decoder (logits and resid_post bit for bit, weight bytes); progress grows by one linear a step from 0 to every linear and byte, the event loop getting a turn after each', async () => {
    const sync = OwnDecoder.fromOnnx(onnx, cfg);
    const seen: OwnOpenProgress[] = [];
    let turns = 0;
    const d = await OwnDecoder.fromOnnxAsync(onnx, cfg, undefined, { onProgress: (p) => seen.push({ ...p }), yieldNow: async () => { turns++; } });
    const a = logitsOf(sync), b = logitsOf(d);
    expect(b.logits).toEqual(a.logits);
    for (let l = 0; l < cfg.numLayers; l++) expect(b.residPost![l]).toEqual(a.residPost![l]);
    expect(d.weightBytes).toBe(sync.weightBytes);
    expect(d.weightBytes).toBe(BYTES);
    // progress 0 before reading the file, then one step a linear
    expect(seen.map((p) => p.linearsDone)).toEqual(Array.from({ length: LINEARS + 1 }, (_, i) => i));
    expect(seen.every((p) => p.linears === LINEARS && p.bytes === BYTES)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i].bytesDone).toBeGreaterThan(seen[i - 1].bytesDone);
    expect(seen.at(-1)).toEqual({ linearsDone: LINEARS, linears: LINEARS, bytesDone: BYTES, bytes: BYTES });
    expect(turns).toBe(seen.length);
  });

  it('with the default yield (a timer) timers set before it run between the steps', async () => {
    const order: string[] = [];
    let fired = false;
    setTimeout(() => { fired = true; }, 0);
    await OwnDecoder.fromOnnxAsync(onnx, cfg, undefined, { onProgress: (p) => order.push(`${p.linearsDone}:${fired}`) });
    // the timer set before the open fired during it, after the first step and before the last
    expect(order[0]).toBe('0:false');
    expect(order.at(-1)).toBe(`${LINEARS}:true`);
  });

  it('a cancel mid-way rejects with an AbortError and builds no more linears; an open after it gives the same numbers; an aborted signal opens nothing', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const err = await OwnDecoder.fromOnnxAsync(onnx, cfg, undefined, {
      signal: ac.signal,
      onProgress: (p) => { seen.push(p.linearsDone); if (p.linearsDone === 5) ac.abort(); },
    }).then(() => null, (e: unknown) => e);
    expect((err as Error)?.name).toBe('AbortError');
    expect((err as Error).message).toMatch(/cancelled/);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    const again = await OwnDecoder.fromOnnxAsync(onnx, cfg);
    expect(logitsOf(again).logits).toEqual(logitsOf(OwnDecoder.fromOnnx(onnx, cfg)).logits);
    const before = new AbortController();
    before.abort();
    const steps: number[] = [];
    await expect(OwnDecoder.fromOnnxAsync(onnx, cfg, undefined, { signal: before.signal, onProgress: (p) => steps.push(p.linearsDone) })).rejects.toMatchObject({ name: 'AbortError' });
    expect(steps).toEqual([]);
  });

  it('a file it refuses (4-bit): the FormatError readOwnWeights gives, after progress 0 and before any linear\'s step', async () => {
    const q4 = buildDecoder(ck, { style: 'optimum', dtype: 'q4' }).onnx;
    const seen: number[] = [];
    const err = await OwnDecoder.fromOnnxAsync(q4, cfg, undefined, { onProgress: (p) => seen.push(p.linearsDone) }).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(() => readOwnWeights(q4, cfg)).toThrow((err as Error).message);
    expect(seen).toEqual([0]);
  });

  it('on a 2-thread kernel pool: the engine gives the synchronous one\'s logits; a cancel mid-way rejects, the pool closes, and a fresh pool opens it again', async () => {
    const ref = await createOwnEngine(NODE, onnx, cfg).forward(PROMPT);
    const pool = await nodeKernelPool(2);
    expect(pool.threads).toBe(2);
    const ac = new AbortController();
    await expect(createOwnEngineAsync(NODE, onnx, cfg, { pool, signal: ac.signal, onProgress: (p) => { if (p.linearsDone === 6) ac.abort(); } })).rejects.toMatchObject({ name: 'AbortError' });
    await pool.close();
    const pool2 = await nodeKernelPool(2);
    try {
      const eng = await createOwnEngineAsync(NODE, onnx, cfg, { pool: pool2 });
      const r = await eng.forward(PROMPT);
      expect(r.logits).toEqual(ref.logits);
      expect(r.residPost).toEqual(ref.residPost);
      await eng.dispose();
    } finally {
      await pool2.close();
    }
  }, 60_000);
});

describe('steps (../../steps.ts)', () => {
  function* work(log: string[]): Generator<number, string, void> {
    try {
      for (let i = 1; i <= 3; i++) { log.push(`step ${i}`); yield i; }
      return 'done';
    } finally {
      log.push('closed');
    }
  }

  it('runSteps runs every step at once; runStepsAsync reports each, yields after each, and closes the work on a cancel', async () => {
    const log: string[] = [];
    expect(runSteps(work(log))).toBe('done');
    expect(log).toEqual(['step 1', 'step 2', 'step 3', 'closed']);
    const seen: number[] = [];
    const log2: string[] = [];
    expect(await runStepsAsync(work(log2), { onProgress: (p) => seen.push(p), yieldNow: async () => { log2.push('yield'); } }, 'x')).toBe('done');
    expect(seen).toEqual([1, 2, 3]);
    expect(log2).toEqual(['step 1', 'yield', 'step 2', 'yield', 'step 3', 'yield', 'closed']);
    const ac = new AbortController();
    const log3: string[] = [];
    await expect(runStepsAsync(work(log3), { signal: ac.signal, onProgress: (p) => { if (p === 2) ac.abort(); } }, 'The work was cancelled.')).rejects.toThrow('The work was cancelled.');
    expect(log3).toEqual(['step 1', 'step 2', 'closed']);
  });
});
