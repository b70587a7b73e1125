/**
 * Test page for WebAssembly memories (e2e/wasm-memories.spec.ts drives it with page.evaluate): a
 * synthetic model of many layers, built in q8 here, has its int8 linears loaded as the own
 * decoder's `Linear`s on a kernel pool of this page and its helper workers (one renderer: one
 * budget of ~124 wasm memories), into an arena (`int8GemvWasm().arena()`; the helpers make their
 * own) or, as before arenas, each into a memory of its own; then every linear runs.
 */
import { parseConfig } from '../../src/core/lm/config';
import { int8GemvWasm } from '../../src/core/lm/int8-gemv-wasm';
import { syntheticConfig } from '../../src/core/lm/model-source';
import { Linear } from '../../src/core/lm/own/linear';
import { readOwnWeights, type QLinear } from '../../src/core/lm/own/weights';
import { browserKernelPool } from '../../workers/own-pool';

const status = document.getElementById('status')!;

/** The model's linears, as the decoder fuses them (qkv, o, gate / up, down per layer, then lm_head). */
async function modelLinears(layers: number): Promise<QLinear[][]> {
  // loaded on demand, as the app's model source does (so the builder keeps its own chunk)
  const [{ buildDecoder }, { randomCheckpoint }] = await Promise.all([import('../../src/core/lm/builder'), import('../../src/core/lm/checkpoint')]);
  const json = syntheticConfig({ num_hidden_layers: layers });
  const cfg = parseConfig(json);
  const onnx = buildDecoder(randomCheckpoint(json, { seed: 4 }), { style: 'optimum', dtype: 'q8' }).onnx;
  const w = readOwnWeights(onnx, cfg);
  const lin = (k: string) => w.linears.get(k)!;
  const out: QLinear[][] = [];
  for (let i = 0; i < layers; i++) out.push([lin(`layers.${i}.q`), lin(`layers.${i}.k`), lin(`layers.${i}.v`)], [lin(`layers.${i}.o`)], [lin(`layers.${i}.gate`), lin(`layers.${i}.up`)], [lin(`layers.${i}.down`)]);
  out.push([lin('lm_head')]);
  return out;
}

const copy = (parts: QLinear[]) => parts.map((p) => ({ ...p, codes: p.codes.slice(), scale: p.scale.slice(), zeroPoint: p.zeroPoint.slice(), bias: p.bias?.slice() }));

/** A sum of every linear's outputs for fixed rows (M = 1 and 3), as exact float64 bits of float32 values. */
function runAll(lins: Linear[]): number[] {
  const sums: number[] = [];
  for (const lin of lins) {
    for (const M of [1, 3]) {
      const codes = Uint8Array.from({ length: M * lin.K }, (_, i) => (i * 37 + lin.N) & 255);
      const y = lin.run({ codes, zeroPoint: 128, scale: 0.02 }, M);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * (1 + (i % 7));
      sums.push(s);
    }
  }
  return sums;
}

const api = {
  info: () => ({ isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency, simd: int8GemvWasm() !== null }),
  /**
   * Load a `layers`-layer model's linears on `threads` threads, into an arena or not, and run each:
   * the outputs' sums, how many linears and (with an arena) the caller's instances, or the error.
   */
  async load(layers: number, threads: number, arena: boolean): Promise<{ ok: true; linears: number; instances: number | null; sums: number[]; threads: number } | { ok: false; error: string }> {
    const parts = await modelLinears(layers);
    const pool = threads > 1 ? await browserKernelPool(threads) : undefined;
    try {
      const a = arena ? int8GemvWasm()!.arena() : undefined;
      const lins = parts.map((p) => new Linear(copy(p), pool, a));
      const sums = runAll(lins);
      return { ok: true, linears: lins.length, instances: a ? a.instances : null, sums, threads: pool?.threads ?? 1 };
    } catch (e) {
      return { ok: false, error: `${(e as Error).name}: ${(e as Error).message}` };
    } finally {
      await pool?.close();
    }
  },
};

(window as unknown as { memories: typeof api }).memories = api;
status.textContent = 'ready';
