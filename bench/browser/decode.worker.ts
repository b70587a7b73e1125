/**
 * The decode worker of bench/decode-browser.bench.ts (a module Web Worker in headless Chromium):
 * our int8 decoder as the model worker opens it (createOwnEngine; a kernel pool from
 * workers/own-pool.ts browserKernelPool for the 2-thread engine, whose helpers are
 * workers/own-kernel.worker.ts, bundled apart and served next to this bundle), driven by RPC
 * messages from the page ({ id, cmd, args } -> { id, ok, result | error }). The decoder blocks
 * synchronously (and the pool's caller Atomics.waits), which only a worker may do: so it runs here.
 *
 * Engines: 'one' (no pool), 'two' (a pool of 2), and 'oneDot' (no pool, made with the kernel
 * preference 'dot', for the in-session u8dot vs dot A/B). The kernel preference is set, where
 * src/core/lm/int8-gemv-wasm.ts exports `setInt8KernelPreference` (read defensively), before an
 * engine is made: a linear picks its kernel when it is built and hands that choice to the pool's
 * helpers with its weights.
 */
import { Tensor } from 'onnxruntime-common';
import * as gemv from '../../src/core/lm/int8-gemv-wasm';
import { parseConfig, type DecoderConfig } from '../../src/core/lm/config';
import { unitRows, type LmEngine } from '../../src/core/lm/generate';
import { buildInterventions } from '../../src/core/lm/interventions';
import { createOwnEngine } from '../../src/core/lm/own/session';
import { setStepProfile, STEP_PHASES } from '../../src/core/lm/own/decoder';
import type { RowParams } from '../../src/core/lm/rows';
import { browserKernelPool } from '../../workers/own-pool';

type Pool = Awaited<ReturnType<typeof browserKernelPool>>;
const ort = { Tensor } as unknown as Parameters<typeof createOwnEngine>[0];
const engines: Record<string, LmEngine> = {};
let pool: Pool | undefined;
let cfg: DecoderConfig;
let prompt: number[] = [];
let NEW = 8;
let axis: Float32Array;
let params: RowParams;
let capOnly: RowParams;
let pref = 'auto';
const engineKernel: Record<string, string> = {};

/**
 * WebAssembly instances made in this worker (each of our kernels' instances has a memory of its
 * own; Chromium caps a renderer process's wasm memories, see wasmHeadroom), counted as made.
 */
let instances = 0;
const wasm = WebAssembly as unknown as { Instance: typeof WebAssembly.Instance };
wasm.Instance = new Proxy(WebAssembly.Instance, {
  construct(target, args) {
    instances++;
    return Reflect.construct(target, args) as object;
  },
});

/** What the kernel module says of itself (read defensively: the u8 kernel's exports may not be there yet). */
function kernelInfo() {
  const mod = gemv as unknown as Record<string, unknown>;
  const g = gemv.int8GemvWasm() as unknown as Record<string, unknown> | null;
  const u8Exact = (g?.u8Exact as boolean | undefined) ?? false;
  const named = mod.integerKernel;
  const kernel = typeof named === 'function' ? (named as () => string)() : pref !== 'dot' && u8Exact ? 'u8dot' : 'dot';
  return {
    kernel,
    kernel_preference: pref,
    preference_setter: typeof mod.setInt8KernelPreference === 'function',
    u8_exact: u8Exact,
    relaxed_simd: (g?.relaxed as boolean | undefined) ?? false,
  };
}

/** Sets this thread's kernel preference where the module has the setter; false where it has none. */
function setPreference(p: string): boolean {
  const set = (gemv as unknown as Record<string, unknown>).setInt8KernelPreference;
  if (typeof set !== 'function') return false;
  (set as (p: string) => void)(p);
  return true;
}

async function rowsRun(engine: LmEngine, B: number): Promise<{ tokens: number; ms: number; ids: number[][] }> {
  const c = engine.conversation(B);
  try {
    for (let r = 0; r < B; r++) c.setTokens(r, prompt.map((x) => x + r));
    const rowParams = Array.from({ length: B }, (_, r) => rowParamsOf(r));
    const res = await c.run({ maxNewTokens: NEW, stopIds: [], params: rowParams, axis });
    return { tokens: B * (NEW - 1), ms: res.decodeMs, ids: res.rows.map((x) => x.ids) };
  } finally {
    c.dispose();
  }
}
/** decode.bench.ts's per-row interventions: row r % 3 = 0 none, 1 steer + cap, 2 cap only. */
const rowParamsOf = (r: number): RowParams => (r % 3 === 1 ? params : r % 3 === 2 ? capOnly : {});

const handlers: Record<string, (a: any) => Promise<unknown>> = {
  async setup(a: { modelUrl: string; cfgJson: Record<string, unknown>; prompt: number[]; axis: number[]; newTokens: number; threads: number; kernel: string; kernelAb: boolean; skipOne?: boolean }) {
    const t0 = performance.now();
    pref = a.kernel;
    setPreference(pref);
    cfg = parseConfig(a.cfgJson as never);
    prompt = a.prompt;
    NEW = a.newTokens;
    const L = cfg.numLayers, d = cfg.hiddenSize;
    axis = unitRows(Float32Array.from(a.axis), L, d);
    const mid = Math.floor(L / 2);
    const iv = buildInterventions({ numLayers: L, hiddenSize: d }, {
      steer: [{ vector: axis, layers: [mid - 1, mid], alpha: 0.5 }],
      cap: [{ vector: axis, layers: [Math.min(L - 2, mid + 1), L - 1], tau: -1e3 }],
    });
    params = { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau };
    capOnly = { capAxis: iv.capAxis, capTau: iv.capTau };
    const res = await fetch(a.modelUrl);
    if (!res.ok) throw new Error(`GET ${a.modelUrl}: ${res.status}`);
    const onnx = new Uint8Array(await res.arrayBuffer());
    const fetchS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const errors: Record<string, string> = {};
    const made: Record<string, number> = {};
    /** Makes an engine; a failure (e.g. Chromium's cap on wasm memories) is reported, not thrown. */
    const make = async (name: string, f: () => Promise<LmEngine>) => {
      const i0 = instances;
      try {
        engines[name] = await f();
        engineKernel[name] = kernelInfo().kernel;
      } catch (err) {
        errors[name] = String((err as Error)?.message ?? err).split('\n')[0];
      }
      made[name] = instances - i0;
    };
    if (!a.skipOne) await make('one', async () => createOwnEngine(ort, onnx, cfg));
    const oneS = (performance.now() - t1) / 1000;
    let twoS: number | null = null;
    if (a.threads > 1) {
      const t2 = performance.now();
      await make('two', async () => {
        pool = await browserKernelPool(a.threads);
        return createOwnEngine(ort, onnx, cfg, { pool });
      });
      if (!engines.two) {
        await pool?.close().catch(() => {});
        pool = undefined;
      }
      twoS = (performance.now() - t2) / 1000;
    }
    // the old kernel beside it, where there is a choice (the u8 kernel exact here, and the setter)
    if (a.kernelAb && kernelInfo().kernel === 'u8dot' && setPreference('dot')) {
      await make('oneDot', async () => createOwnEngine(ort, onnx, cfg));
      setPreference(pref);
    }
    const g = globalThis as unknown as { crossOriginIsolated?: boolean; navigator: { hardwareConcurrency: number; userAgent: string } };
    return {
      ...kernelInfo(),
      cross_origin_isolated: g.crossOriginIsolated === true,
      shared_array_buffer: typeof SharedArrayBuffer !== 'undefined',
      hardware_concurrency: g.navigator.hardwareConcurrency,
      user_agent: g.navigator.userAgent,
      pool_threads: pool?.threads ?? null,
      engine_kernels: { ...engineKernel },
      engine_errors: errors,
      wasm_instances_in_worker: made,
      model_mb: Math.round(onnx.byteLength / 2 ** 20),
      fetch_s: +fetchS.toFixed(3),
      load_1thread_s: +oneS.toFixed(3),
      load_2threads_s: twoS === null ? null : +twoS.toFixed(3),
    };
  },
  /** One greedy generation: decode tokens/s (the loop's own timer) and the tokens. */
  async generate(a: { engine: string; n?: number; instrumented?: boolean }) {
    const r = await engines[a.engine].generate(prompt, { maxNewTokens: a.n ?? NEW, stopIds: [], params: a.instrumented ? { ...params, axis } : undefined });
    return { tps: r.decodeTokensPerSecond, ids: r.ids };
  },
  /**
   * Warm-up: every engine generates, one row and batches of 3 and 8, `times` times (Chromium tiers a
   * wasm function up from Liftoff to TurboFan once it has run a while, each kernel shape on its own).
   */
  async warmup(a: { times: number }) {
    const t0 = performance.now();
    for (let i = 0; i < a.times; i++) {
      for (const e of Object.values(engines)) {
        await e.generate(prompt, { maxNewTokens: NEW, stopIds: [] });
        await e.generate(prompt, { maxNewTokens: NEW, stopIds: [], params: { ...params, axis } });
        await rowsRun(e, 3);
        await rowsRun(e, 8);
      }
    }
    return { warmup_s: +((performance.now() - t0) / 1000).toFixed(3) };
  },
  /** Tokens/s over B rows in one batched Conversation (decode.bench.ts batchTps). */
  async batch(a: { engine: string; B: number }) {
    const x = await rowsRun(engines[a.engine], a.B);
    return { tps: (x.tokens * 1000) / x.ms };
  },
  /** Tokens/s over B one-row runs (decode.bench.ts seqTps: B runs of row 0). */
  async seq(a: { engine: string; B: number }) {
    let tokens = 0, ms = 0;
    for (let r = 0; r < a.B; r++) {
      const x = await rowsRun(engines[a.engine], 1);
      tokens += x.tokens;
      ms += x.ms;
    }
    return { tps: (tokens * 1000) / ms };
  },
  /**
   * Where a decode step's time goes (the decoder's phases, ms a step, over `times` runs of B rows;
   * `outside` is the decode time not in the decoder's steps: the engine, the session's feeds).
   */
  async profile(a: { engine: string; B: number; times: number }) {
    const P = new Float64Array(STEP_PHASES.length);
    let decodeMs = 0, steps = 0;
    for (let i = 0; i < a.times; i++) {
      setStepProfile(P);
      const x = await rowsRun(engines[a.engine], a.B);
      setStepProfile(null);
      decodeMs += x.ms;
      steps += NEW - 1;
    }
    const all = P[P.length - 1];
    const out: Record<string, number> = {};
    STEP_PHASES.forEach((k, i) => { if (k !== 'steps') out[k] = +(P[i] / all).toFixed(3); });
    return { B: a.B, steps_profiled: all, decode_ms_per_step: +(decodeMs / steps).toFixed(3), phases_ms_per_step: out };
  },
  /** Whether every row of a batch of B makes the greedy tokens that row makes alone (same prompt, same interventions). */
  async rowsSame(a: { engine: string; B: number }) {
    const engine = engines[a.engine];
    const batch = await rowsRun(engine, a.B);
    const differ: number[] = [];
    for (let r = 0; r < a.B; r++) {
      const c = engine.conversation(1);
      try {
        c.setTokens(0, prompt.map((x) => x + r));
        const res = await c.run({ maxNewTokens: NEW, stopIds: [], params: [rowParamsOf(r)], axis });
        if (res.rows[0].ids.join() !== batch.ids[r].join()) differ.push(r);
      } finally {
        c.dispose();
      }
    }
    return { same: differ.length === 0, differ };
  },
  /**
   * How many more wasm memories this renderer process takes now (1-page memories made until one
   * fails, then dropped): Chromium's V8 reserves each 32-bit memory's guard region inside its
   * sandbox, about 124 of them a process here, workers included. Call it last.
   */
  async wasmHeadroom() {
    const keep: WebAssembly.Memory[] = [];
    let error: string | null = null;
    try {
      for (let i = 0; i < 4096; i++) keep.push(new WebAssembly.Memory({ initial: 1 }));
    } catch (err) {
      error = String((err as Error)?.message ?? err);
    }
    return { free: keep.length, error };
  },
  async info() {
    return kernelInfo();
  },
  async close() {
    for (const k of Object.keys(engines)) {
      await engines[k].dispose();
      delete engines[k];
    }
    await pool?.close();
    pool = undefined;
    return true;
  },
};

const scope = globalThis as unknown as {
  addEventListener(type: 'message', l: (e: MessageEvent<{ id: number; cmd: string; args: unknown }>) => void): void;
  postMessage(m: unknown): void;
};
scope.addEventListener('message', async (e) => {
  const { id, cmd, args } = e.data;
  try {
    const h = handlers[cmd];
    if (!h) throw new Error(`no command ${cmd}`);
    scope.postMessage({ id, ok: true, result: await h(args) });
  } catch (err) {
    scope.postMessage({ id, ok: false, error: String((err as Error)?.stack ?? err) });
  }
});
