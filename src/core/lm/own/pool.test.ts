/**
 * The own decoder's kernel pool (./pool.ts, over Node worker_threads): a decoder whose linears run
 * on 2 or 3 threads gives bit for bit the one-thread logits and resid_post over a prefill and decode
 * steps (M = 1 and M = 3 rows); a helper that does not start, fails to load its slice, or dies gives
 * a KernelPoolError (never a hang); close() ends the helpers, so the process can exit.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { buildDecoder } from '../builder';
import { tinyModel } from '../builder/ort-node.testkit';
import { nodeKernelPool, nodeKernelWorker } from '../../../../workers/own-pool-node';
import { OwnDecoder } from './decoder';
import { ColumnSlice, Linear, sliceStarts } from './linear';
import { createKernelPool, KernelPoolError, type WorkerLike } from './pool';
import type { QLinear } from './weights';

const PROMPT = [3, 17, 200, 5, 9, 41, 77];
const STEPS = [[123], [8, 250, 64], [19]];

const same = (a: Float32Array, b: Float32Array) => {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) diff++;
  expect(diff).toBe(0);
};

describe('the kernel pool', () => {
  it('splits columns at multiples of 16, every thread some, or not at all', () => {
    expect(sliceStarts(96, 2)).toEqual([0, 48]);
    expect(sliceStarts(300, 2)).toEqual([0, 144]);
    expect(sliceStarts(1024, 4)).toEqual([0, 256, 512, 768]);
    expect(sliceStarts(40, 2)).toEqual([0, 16]);
    expect(sliceStarts(31, 2)).toBeNull();
    expect(sliceStarts(1024, 1)).toBeNull();
  });

  it('one thread: a pool that runs everything on the caller', async () => {
    const pool = await nodeKernelPool(1);
    expect(pool.threads).toBe(1);
    const { cfg, ck } = tinyModel('qwen3', 3, { num_hidden_layers: 2 });
    const onnx = buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx;
    const a = OwnDecoder.fromOnnx(onnx, cfg).forward(PROMPT, OwnDecoder.fromOnnx(onnx, cfg).newCache());
    const d = OwnDecoder.fromOnnx(onnx, cfg, undefined, { pool });
    same(d.forward(PROMPT, d.newCache()).logits, a.logits);
    await pool.close();
  });

  it('2 and 3 threads: logits and resid_post bit for bit the one-thread ones, prefill then decode steps of 1 and 3 rows; greedy tokens the same', async () => {
    const { cfg, ck } = tinyModel('qwen3', 5, { num_hidden_layers: 3 });
    const onnx = buildDecoder(ck, { style: 'optimum', dtype: 'uint8' }).onnx;
    const one = OwnDecoder.fromOnnx(onnx, cfg);
    for (const threads of [2, 3]) {
      const pool = await nodeKernelPool(threads);
      try {
        expect(pool.threads).toBe(threads);
        const many = OwnDecoder.fromOnnx(onnx, cfg, undefined, { pool });
        const c1 = one.newCache(), cT = many.newCache();
        for (const ids of [PROMPT, ...STEPS]) {
          const a = one.forward(ids, c1, { taps: true });
          const b = many.forward(ids, cT, { taps: true });
          same(b.logits, a.logits);
          for (let l = 0; l < cfg.numLayers; l++) same(b.residPost![l], a.residPost![l]);
        }
        expect(many.greedy(PROMPT, 5).ids).toEqual(one.greedy(PROMPT, 5).ids);
      } finally {
        await pool.close();
      }
    }
  }, 60_000);

  it('a linear with a bias, more rows than one call takes, on 2 threads: the one-thread numbers; runRows (a zero point and scale per row) = one-row runs', async () => {
    const N = 200, K = 72;
    let s = 7;
    const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
    const part: QLinear = {
      codes: Int8Array.from({ length: N * K }, () => Math.floor(rnd() * 255) - 127),
      N, K,
      scale: Float32Array.from({ length: N }, () => 0.01 + rnd() * 0.02),
      zeroPoint: new Int32Array(N),
      bias: Float32Array.from({ length: N }, () => rnd() - 0.5),
    };
    const copy = (): QLinear => ({ ...part, codes: part.codes.slice() });
    const pool = await nodeKernelPool(2);
    try {
      const pooled = new Linear([copy()], pool);
      const rowsCap = 64; // CHUNK_BYTES / (K + 4N) is far above: capped at 64
      const M = rowsCap + 5;
      const codes = Uint8Array.from({ length: M * K }, () => Math.floor(rnd() * 256));
      const q = { codes, scale: 0.037, zeroPoint: 131 };
      const ref = new Float32Array(M * N);
      new ColumnSlice(copy()).run(codes, q.zeroPoint, q.scale, M, ref, N);
      same(pooled.run(q, M), ref);
      same(pooled.run(q, 1), ref.subarray(0, N));
      // rows quantised on their own (runRows): bit for bit one-row run calls, on one thread and on the pool
      const zeros = Int32Array.from({ length: M }, (_, m) => (m * 37) % 256);
      const scales = Float32Array.from({ length: M }, (_, m) => Math.fround(0.01 + m * 0.003));
      const single = new Linear([copy()]);
      const perRow = new Float32Array(M * N);
      for (let m = 0; m < M; m++) single.run({ codes: codes.subarray(m * K, (m + 1) * K), zeroPoint: zeros[m], scale: scales[m] }, 1, perRow.subarray(m * N, (m + 1) * N));
      same(single.runRows(codes, zeros, scales, M), perRow);
      same(pooled.runRows(codes, zeros, scales, M), perRow);
      same(pooled.runRows(codes, zeros, scales, 3), perRow.subarray(0, 3 * N));
      expect(() => pooled.runRows(codes, zeros.subarray(0, 2), scales, 3)).toThrow(/expected 3/);
    } finally {
      await pool.close();
    }
  }, 30_000);

  it('a helper that does not start, fails to load its slice, or dies: a KernelPoolError, not a hang', async () => {
    const broken = (): WorkerLike => {
      const w = new Worker('throw new Error("no kernel here")', { eval: true });
      return { postMessage: (m) => w.postMessage(m), terminate: () => w.terminate(), onMessage: (h) => w.on('message', h), onError: (h) => w.on('error', h) };
    };
    const started = createKernelPool(2, broken);
    await expect(started).rejects.toBeInstanceOf(KernelPoolError);
    await expect(started).rejects.toThrow(/did not start|failed to start.*no kernel here/);

    // a slice the helper's kernel refuses (K too long for exact int32 sums): reported at the first call
    const pool = await nodeKernelPool(2);
    try {
      const K = 131_072;
      const bad = { codes: new Int8Array(16 * K), N: 16, K, scale: new Float32Array(16), zeroPoint: new Int32Array(16) };
      const pl = pool.load(32, K, [0, 16], [bad]);
      expect(() => pl.start(new Uint8Array(K), 0, 1, 1)).toThrow(KernelPoolError);
      expect(() => pl.start(new Uint8Array(K), 0, 1, 1)).toThrow(/kernel thread 1: K = 131072 is too long/);
    } finally {
      await pool.close();
    }

    // a helper that dies while serving: the next call times out with a KernelPoolError
    const made: WorkerLike[] = [];
    const dying = await createKernelPool(2, () => {
      const w = nodeKernelWorker();
      made.push(w);
      return w;
    }, { jobTimeoutMs: 1500 });
    try {
      const { cfg, ck } = tinyModel('llama', 4, { num_hidden_layers: 1 });
      const d = OwnDecoder.fromOnnx(buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx, cfg, undefined, { pool: dying });
      d.forward([1, 2], d.newCache());
      await made[0].terminate();
      const t0 = Date.now();
      expect(() => d.forward([3], d.newCache())).toThrow(KernelPoolError);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(() => d.forward([3], d.newCache())).toThrow(/did not answer/);
    } finally {
      await dying.close();
    }
    await expect(dying.close()).resolves.toBeUndefined();
  }, 60_000);

  it('close() ends the helpers: a Node process that used a 2-thread pool exits by itself', async () => {
    const script = `
      const { nodeKernelPool } = await import(${JSON.stringify(new URL('../../../../workers/own-pool-node.ts', import.meta.url).href)});
      const { Linear } = await import(${JSON.stringify(new URL('./linear.ts', import.meta.url).href)});
      const pool = await nodeKernelPool(2);
      const N = 64, K = 32;
      const lin = new Linear([{ codes: new Int8Array(N * K).fill(3), N, K, scale: new Float32Array(N).fill(0.5), zeroPoint: new Int32Array(N) }], pool);
      const y = lin.run({ codes: new Uint8Array(K).fill(2), scale: 1, zeroPoint: 0 }, 1);
      console.log(JSON.stringify({ y0: y[0], y63: y[63] }));
      await pool.close();
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (err += b));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => { child.kill(); resolve(null); }, 25_000);
      child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
    });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ y0: 96, y63: 96 }); // 32 * 2 * 3 * 0.5
  }, 30_000);
});
