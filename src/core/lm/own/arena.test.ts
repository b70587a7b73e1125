/**
 * Int8 arenas under the own decoder's linears (../int8-gemv-wasm.ts Int8Arena, ./linear.ts,
 * ./pool.ts): Linears loaded into one arena give bit for bit the numbers of Linears with memories
 * of their own, on one thread and on a 2- or 3-thread pool (whose helpers load every slice into an
 * arena of their own), over arena boundaries (a tiny cap); and the WebAssembly memories an engine
 * makes are O(1) per thread, not O(linears): counted per thread (every `new WebAssembly.Instance`,
 * the helpers' through ./arena-count-worker.testkit.ts).
 */
import { describe, expect, it } from 'vitest';
import { nodeKernelWorker } from '../../../../workers/own-pool-node';
import { int8GemvWasm } from '../int8-gemv-wasm';
import { countInstances } from './arena-count.testkit';
import { Linear } from './linear';
import { createKernelPool, type WorkerLike } from './pool';
import type { QLinear } from './weights';

const gemv = int8GemvWasm();
const WORKER = new URL('./arena-count-worker.testkit.ts', import.meta.url).href;

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
}

/** A layer's worth of linears (a fused qkv of 3 parts, o, a fused gate / up with biases, down), int8 or uint8 codes. */
function layer(rnd: () => number, H: number, u8: boolean): QLinear[][] {
  const q = (N: number, K: number, bias: boolean): QLinear => ({
    codes: u8 ? Uint8Array.from({ length: N * K }, () => Math.floor(rnd() * 256)) : Int8Array.from({ length: N * K }, () => Math.floor(rnd() * 256) - 128),
    N, K,
    scale: Float32Array.from({ length: N }, () => 0.01 + rnd() * 0.02),
    zeroPoint: Int32Array.from({ length: N }, () => (u8 ? Math.floor(rnd() * 256) : 0)),
    bias: bias ? Float32Array.from({ length: N }, () => rnd() - 0.5) : undefined,
  });
  return [[q(H, H, false), q(H / 2, H, false), q(H / 2, H, false)], [q(H, H, false)], [q(2 * H, H, true), q(2 * H, H, true)], [q(H, 2 * H, false)]];
}

/** Copies (a pool's load transfers the helpers' slices' buffers). */
const copy = (parts: QLinear[]) => parts.map((p) => ({ ...p, codes: p.codes.slice(), scale: p.scale.slice(), zeroPoint: p.zeroPoint.slice(), bias: p.bias?.slice() }));

/** Every output of the linears for some rows: M = 1, 3, 8 and 70 (more than a pooled call takes), per-tensor and per-row quantised. */
function outputs(lins: Linear[], seed: number): Float32Array[] {
  const rnd = lcg(seed);
  const out: Float32Array[] = [];
  for (const lin of lins) {
    for (const M of [1, 3, 8, 70]) {
      const codes = Uint8Array.from({ length: M * lin.K }, () => Math.floor(rnd() * 256));
      out.push(lin.run({ codes, zeroPoint: 1 + Math.floor(rnd() * 254), scale: 0.01 + rnd() * 0.1 }, M));
      if (M > 1) out.push(lin.runRows(codes, Int32Array.from({ length: M }, () => Math.floor(rnd() * 256)), Float32Array.from({ length: M }, () => Math.fround(0.01 + rnd() * 0.1)), M));
    }
  }
  return out;
}

function same(a: Float32Array[], b: Float32Array[]) {
  expect(a.length).toBe(b.length);
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    expect(a[i].length).toBe(b[i].length);
    for (let j = 0; j < a[i].length; j++) if (!Object.is(a[i][j], b[i][j])) diff++;
  }
  expect(diff).toBe(0);
}

/** A pool whose helpers count their WebAssembly instances; `counts()` the latest each reported (at its last 'serve'). */
async function countingPool(threads: number) {
  const last: number[] = [];
  const pool = await createKernelPool(threads, (index): WorkerLike => {
    const w = nodeKernelWorker(WORKER);
    w.onMessage((m) => {
      const r = m as { type?: string; n?: number };
      if (r?.type === 'instances') last[index - 1] = r.n!;
    });
    return w;
  });
  return { pool, counts: () => last.slice() };
}

/** Node's message events are async: let the helpers' reports arrive. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe.skipIf(!gemv)('int8 arenas under the own decoder linears', () => {
  const rnd = lcg(11);
  const H = 64;
  // 6 layers of int8 codes, 6 of uint8 ones: 48 linears
  const model = [...Array.from({ length: 6 }, () => layer(rnd, H, false)), ...Array.from({ length: 6 }, () => layer(rnd, H, true))].flat();
  const want = outputs(model.map((p) => new Linear(copy(p))), 5);

  it('one thread: Linears in one arena (default cap, and a tiny one: many instances) give the own-memory numbers bit for bit; one memory for 48 linears', () => {
    const counter = countInstances();
    try {
      const arena = gemv!.arena();
      const lins = model.map((p) => new Linear(copy(p), undefined, arena));
      same(outputs(lins, 5), want);
      expect(arena.linears).toBe(model.length);
      expect(arena.instances).toBe(1); // Node's u8dot is not exact: the dot module only
      expect(counter.n).toBe(1);
      const tiny = gemv!.arena({ capBytes: 64 * 1024 });
      same(outputs(model.map((p) => new Linear(copy(p), undefined, tiny)), 5), want);
      expect(tiny.instances).toBeGreaterThan(3);
      expect(tiny.instances).toBeLessThan(model.length);
      // without an arena: one memory per linear (what made Chromium run out of them)
      const before = counter.n;
      model.map((p) => new Linear(copy(p)));
      expect(counter.n - before).toBe(model.length);
    } finally {
      counter.restore();
    }
  });

  it('2 and 3 threads: the caller\'s slices in its arena and each helper\'s in its own give the one-thread numbers bit for bit; memories per thread O(1): 1 on the caller, 1 on each helper, for 48 linears', async () => {
    for (const threads of [2, 3]) {
      const { pool, counts } = await countingPool(threads);
      const counter = countInstances();
      try {
        const arena = gemv!.arena();
        const lins = model.map((p) => new Linear(copy(p), pool, arena));
        same(outputs(lins, 5), want);
        expect(counter.n).toBe(1);
        expect(arena.instances).toBe(1);
        await settle();
        expect(counts()).toEqual(new Array(threads - 1).fill(1));
        // more linears later (the helpers leave serving to load them): still their one memory
        const more = model.slice(0, 8).map((p) => new Linear(copy(p), pool, arena));
        same(outputs(more, 5), want.slice(0, (want.length / model.length) * 8)); // the same inputs as the first 8's
        await settle();
        expect(counts()).toEqual(new Array(threads - 1).fill(1));
        expect(counter.n).toBe(1);
      } finally {
        counter.restore();
        await pool.close();
      }
    }
  }, 60_000);
});
