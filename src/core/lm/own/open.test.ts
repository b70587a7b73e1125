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
import { Linear, type LinearBuildProgress } from './linear';
import type { QLinear } from './weights';

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

describe('opening in bounded steps (stepBytes: a few hundred bytes of codes a step here, LOAD_STEP_BYTES in use)', () => {
  const STEP = 1000;
  const LM_HEAD = cfg.vocabSize * cfg.hiddenSize;
  /** Every progress of an open with `stepBytes`, and the decoder. */
  const open = async (file: Uint8Array, options: { pool?: Awaited<ReturnType<typeof nodeKernelPool>>; signal?: AbortSignal; onProgress?: (p: OwnOpenProgress) => void } = {}) => {
    const seen: OwnOpenProgress[] = [];
    const d = await OwnDecoder.fromOnnxAsync(file, cfg, undefined, { ...options, stepBytes: STEP, yieldNow: async () => {}, onProgress: (p) => { seen.push({ ...p }); options.onProgress?.(p); } });
    return { d, seen };
  };
  /**
   * The linears' count never goes back nor past all, each count shows, the bytes grow every step by
   * at most a step's (with a pool, but for one step a linear: its helpers' slices, copied and sent
   * at once), and end at all.
   */
  const checkProgress = (seen: OwnOpenProgress[], pooled = false) => {
    expect(seen.length).toBeGreaterThan(LINEARS + 1);
    let jumps = 0;
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].linearsDone - seen[i - 1].linearsDone).toBeGreaterThanOrEqual(0);
      expect(seen[i].linearsDone - seen[i - 1].linearsDone).toBeLessThanOrEqual(1);
      expect(seen[i].bytesDone).toBeGreaterThan(seen[i - 1].bytesDone);
      if (seen[i].bytesDone - seen[i - 1].bytesDone > STEP) jumps++;
    }
    if (pooled) expect(jumps).toBeLessThanOrEqual(LINEARS);
    else expect(jumps).toBe(0);
    expect([...new Set(seen.map((p) => p.linearsDone))]).toEqual(Array.from({ length: LINEARS + 1 }, (_, i) => i));
    expect(seen.at(-1)).toEqual({ linearsDone: LINEARS, linears: LINEARS, bytesDone: BYTES, bytes: BYTES });
    // the lm_head (the last linear): laid out and built (this thread's half of it, with a pool) in many steps
    const lmHead = seen.filter((p) => p.linearsDone === LINEARS - 1 && p.bytesDone > BYTES - LM_HEAD);
    expect(lmHead.length).toBeGreaterThanOrEqual(Math.floor(((pooled ? 1.5 : 2) * LM_HEAD) / STEP) - 2);
  };

  it('int8 and uint8 codes: the synchronous open\'s logits and resid_post bit for bit; progress as above', async () => {
    expect(LM_HEAD).toBeGreaterThan(20 * STEP);
    for (const dtype of ['q8', 'uint8'] as const) {
      const file = buildDecoder(ck, { style: 'optimum', dtype }).onnx;
      const { d, seen } = await open(file);
      checkProgress(seen);
      const a = logitsOf(OwnDecoder.fromOnnx(file, cfg)), b = logitsOf(d);
      expect(b.logits).toEqual(a.logits);
      for (let l = 0; l < cfg.numLayers; l++) expect(b.residPost![l]).toEqual(a.residPost![l]);
    }
  });

  it('a cancel in the middle of the lm_head\'s steps rejects with an AbortError; an open after it gives the synchronous open\'s logits (1 thread, then a 2-thread pool)', async () => {
    const ref = logitsOf(OwnDecoder.fromOnnx(onnx, cfg)).logits;
    const mid = BYTES - LM_HEAD / 2;
    for (const threads of [1, 2]) {
      const pool = threads > 1 ? await nodeKernelPool(threads) : undefined;
      const ac = new AbortController();
      const seen: OwnOpenProgress[] = [];
      const err = await open(onnx, { pool, signal: ac.signal, onProgress: (p) => { seen.push({ ...p }); if (p.bytesDone >= mid) ac.abort(); } }).then(() => null, (e: unknown) => e);
      expect((err as Error)?.name).toBe('AbortError');
      // cancelled inside the lm_head (its build under way), not after it
      expect(seen.at(-1)!.linearsDone).toBe(LINEARS - 1);
      expect(seen.at(-1)!.bytesDone).toBeLessThan(BYTES);
      await pool?.close();
      const pool2 = threads > 1 ? await nodeKernelPool(threads) : undefined;
      try {
        const { d, seen: all } = await open(onnx, { pool: pool2 });
        checkProgress(all, threads > 1);
        expect(logitsOf(d).logits).toEqual(ref);
      } finally {
        await pool2?.close();
      }
    }
  }, 60_000);

  it('Linear.build: the constructor\'s linear (outputs bit for bit) in more than one step, progress growing to every code, on 1 thread and a 2-thread pool; a linear of one step does not yield', async () => {
    const N = 203, K = 72;
    let s = 11;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    const part: QLinear = {
      codes: Uint8Array.from({ length: N * K }, () => Math.floor(rnd() * 256)),
      N, K,
      scale: Float32Array.from({ length: N }, () => 0.01 + rnd() * 0.02),
      zeroPoint: Int32Array.from({ length: N }, () => Math.floor(rnd() * 256)),
      bias: Float32Array.from({ length: N }, () => rnd() - 0.5),
    };
    const copy = (): QLinear => ({ ...part, codes: part.codes.slice() });
    const M = 5;
    const q = { codes: Uint8Array.from({ length: M * K }, () => Math.floor(rnd() * 256)), scale: 0.037, zeroPoint: 131 };
    const want = new Linear([copy()]).run(q, M);
    for (const threads of [1, 2]) {
      const pool = threads > 1 ? await nodeKernelPool(threads) : undefined;
      try {
        const steps = Linear.build([copy()], pool, undefined, 10 * K);
        const seen: LinearBuildProgress[] = [];
        let r = steps.next();
        for (; !r.done; r = steps.next()) seen.push(r.value);
        expect(seen.length).toBeGreaterThan(threads > 1 ? 5 : 10);
        for (let i = 1; i < seen.length; i++) expect(seen[i].codesDone).toBeGreaterThan(seen[i - 1].codesDone);
        expect(seen.every((p) => p.codes === N * K && p.codesDone < N * K)).toBe(true);
        expect(r.value.run(q, M)).toEqual(want);
        const whole = Linear.build([copy()], pool, undefined, N * K);
        const first = whole.next();
        expect(first.done).toBe(true);
        expect((first.value as Linear).run(q, M)).toEqual(want);
      } finally {
        await pool?.close();
      }
    }
  }, 30_000);
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
