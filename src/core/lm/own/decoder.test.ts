/**
 * Our own decoder (decoder.ts) against onnxruntime-web (WASM, in Node) on the same 8-bit files our
 * builder writes: logits and resid_post of every layer at every position, prefill and decode steps,
 * Qwen3 and Llama configs, both export styles; greedy tokens; steering and capping as the
 * instrumented graph does them; DynamicQuantizeLinear bit for bit.
 *
 * Tolerance 1e-4 of the largest magnitude (logits and resid_post). Why it holds and why it is not
 * 0: every integer product is exact and every op rounds to float32 as onnxruntime's does, so what
 * is left is float32 rounding inside ops (summation order in norms, attention and softmax,
 * onnxruntime's own exp / sigmoid / cos): measured 0 to 4e-7 here, a few float32 ulps. One
 * activation landing on the other side of a quantisation step (x / scale within that rounding of
 * k + 0.5) would move its linear's output by a whole step, ~1/255 of the input range times a
 * weight (~1e-3 relative): 1e-4 tells rounding from that, and from any real mistake.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildDecoder, type ModelDType } from '../builder';
import { tinyModel } from '../builder/ort-node.testkit';
import { GraphBuilder } from '../builder/graph';
import { buildInterventions, noInterventions } from '../interventions';
import { encodeModel, makeValueInfo, TensorDataType } from '../../onnx/proto';
import { createSession } from '../ort';
import { argmax, dynamicQuantizeLinear, OwnDecoder, roundHalfEven, setAttentionPath } from './decoder';
import { ortWeb, relDiff, WebRunner } from './own.testkit';
import { Pcg32 } from '../sampling';

const TOL = 1e-4;
const PROMPT = [3, 17, 200, 5, 9, 41, 77];
const STEPS = [[123], [8], [250], [64]];

describe('own decoder = onnxruntime-web on the same 8-bit file', () => {
  it('roundHalfEven and DynamicQuantizeLinear: bit for bit what onnxruntime-web computes (scale, zero point, codes)', async () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 3]);
    const ort = await ortWeb();
    const g = new GraphBuilder('float32');
    g.inputs.push(makeValueInfo('x', TensorDataType.FLOAT, ['n']));
    g.op('/q', 'DynamicQuantizeLinear', ['x'], { outputs: ['y', 's', 'z'] });
    for (const [n, t] of [['y', TensorDataType.UINT8], ['s', TensorDataType.FLOAT], ['z', TensorDataType.UINT8]] as const) g.outputs.push(makeValueInfo(n, t, n === 'y' ? ['n'] : []));
    const onnx = encodeModel({ ir_version: 8, opset_import: [{ domain: '', version: 17 }], graph: { name: 'dql', node: g.nodes, initializer: g.initializers, input: g.inputs, output: g.outputs, value_info: [] } });
    const session = await createSession(ort, { graph: onnx, externalData: [] });
    const rng = new Pcg32(5);
    const cases = [
      new Float32Array(7), // all zero: scale 1
      Float32Array.from({ length: 300 }, () => rng.float() * 3), // all positive: zero point 0
      Float32Array.from({ length: 300 }, () => -rng.float() * 0.02), // all negative: zero point 255
      Float32Array.from({ length: 1000 }, () => (rng.float() - 0.3) * 40),
      Float32Array.from([-1, 1.5, 0.5 * (2 / 255), 1.5 * (2 / 255), 2.5 * (2 / 255), 1]), // ties
    ];
    for (const x of cases) {
      const o = await session.run({ x: new ort.Tensor('float32', x, [x.length]) });
      const q = dynamicQuantizeLinear(x);
      expect(q.scale).toBe((o.s.data as Float32Array)[0]);
      expect(q.zeroPoint).toBe((o.z.data as Uint8Array)[0]);
      expect(Array.from(q.codes)).toEqual(Array.from(o.y.data as Uint8Array));
    }
    expect(() => dynamicQuantizeLinear(Float32Array.from([1, NaN]))).toThrow(/finite/);
    expect(() => dynamicQuantizeLinear(Float32Array.from([1, -Infinity]))).toThrow(/finite/);
  });

  const cases: [string, 'qwen3' | 'llama', 'optimum' | 'genai', ModelDType][] = [
    ['Qwen3 optimum q8', 'qwen3', 'optimum', 'q8'],
    ['Llama optimum q8', 'llama', 'optimum', 'q8'],
    ['Qwen3 optimum uint8 (asymmetric uint8 weights)', 'qwen3', 'optimum', 'uint8'],
    ['Qwen3 genai q8 (GroupQueryAttention graph)', 'qwen3', 'genai', 'q8'],
    ['Llama genai q8', 'llama', 'genai', 'q8'],
  ];
  it.each(cases)('%s: logits and resid_post at every position, prefill then 4 decode steps, within 1e-4; greedy tokens identical', async (_label, family, style, dtype) => {
    const { cfg, ck } = tinyModel(family, 3, { num_hidden_layers: 3 });
    expect(cfg.qkNorm).toBe(family === 'qwen3');
    const built = buildDecoder(ck, { style, dtype });
    const own = OwnDecoder.fromOnnx(built.onnx, cfg);
    const web = await WebRunner.open(await ortWeb(), built.onnx, cfg);
    const cache = own.newCache();
    let worst = 0;
    for (const ids of [PROMPT, ...STEPS]) {
      const a = own.forward(ids, cache, { taps: true });
      const b = await web.step(ids);
      expect(a.logits.length).toBe(ids.length * cfg.vocabSize);
      const dl = relDiff(a.logits, b.logits);
      expect(dl).toBeLessThan(TOL);
      worst = Math.max(worst, dl);
      expect(a.residPost).toHaveLength(cfg.numLayers);
      for (let l = 0; l < cfg.numLayers; l++) expect(relDiff(a.residPost![l], b.residPost[l])).toBeLessThan(TOL);
    }
    expect(cache.length).toBe(PROMPT.length + STEPS.length);
    expect(worst).toBeGreaterThanOrEqual(0);

    // greedy: 6 new tokens
    web.reset();
    const ortIds: number[] = [];
    let r = await web.step(PROMPT);
    for (;;) {
      const id = argmax(r.logits.subarray(r.logits.length - cfg.vocabSize));
      ortIds.push(id);
      if (ortIds.length === 6) break;
      r = await web.step([id]);
    }
    const g = own.greedy(PROMPT, 6);
    expect(g.ids).toEqual(ortIds);
    expect(new Set(g.ids).size).toBeGreaterThan(1); // not a degenerate constant
  });

  it('steering moves resid_post[L] by alpha v/|v| (to float32 rounding) and leaves earlier layers alone; steered and capped runs equal the instrumented graph on onnxruntime-web', async () => {
    const { cfg, ck } = tinyModel('qwen3', 4, { num_hidden_layers: 3 });
    const built = buildDecoder(ck, { style: 'optimum', dtype: 'q8' });
    const own = OwnDecoder.fromOnnx(built.onnx, cfg);
    const d = cfg.hiddenSize, L = 1, alpha = 2.5;
    const rng = new Pcg32(8);
    const v = Float32Array.from({ length: d }, () => rng.float() - 0.5);
    const norm = Math.hypot(...v);
    const iv = buildInterventions(cfg, { steer: [{ vector: v, layers: [L], alpha }] });
    const off = own.forward(PROMPT, own.newCache(), { taps: true });
    const on = own.forward(PROMPT, own.newCache(), { taps: true, interventions: iv });
    for (let l = 0; l < L; l++) expect(Array.from(on.residPost![l])).toEqual(Array.from(off.residPost![l]));
    for (let t = 0; t < PROMPT.length; t++) {
      for (let i = 0; i < d; i++) {
        const h = off.residPost![L][t * d + i], moved = on.residPost![L][t * d + i] - h;
        // one float32 rounding of h + s: half an ulp of the result
        expect(Math.abs(moved - (alpha * v[i]) / norm)).toBeLessThanOrEqual(Math.max(Math.abs(h), Math.abs(h + moved)) * 2 ** -24 + 1e-7);
      }
    }
    expect(relDiff(on.logits, off.logits)).toBeGreaterThan(1e-3); // steering did something downstream

    const web = await WebRunner.open(await ortWeb(), built.onnx, cfg, { instrumented: true });
    const a = Float32Array.from({ length: d }, () => rng.float() - 0.5);
    const both = buildInterventions(cfg, { steer: [{ vector: v, layers: [L], alpha }], cap: [{ vector: a, layers: [2], tau: 1.5 }] });
    for (const x of [noInterventions(cfg), iv, both]) {
      web.reset();
      const cache = own.newCache();
      for (const ids of [PROMPT, ...STEPS.slice(0, 2)]) {
        const ours = own.forward(ids, cache, { taps: true, interventions: x });
        const theirs = await web.step(ids, x);
        expect(relDiff(ours.logits, theirs.logits)).toBeLessThan(TOL);
        for (let l = 0; l < cfg.numLayers; l++) expect(relDiff(ours.residPost![l], theirs.residPost[l])).toBeLessThan(TOL);
      }
    }
    // the cap held: projection on a/|a| at layer 2 is at least tau (to rounding) at every position
    const capped = own.forward(PROMPT, own.newCache(), { taps: true, interventions: both });
    const ua = a.map((x) => x / Math.hypot(...a));
    for (let t = 0; t < PROMPT.length; t++) {
      let p = 0;
      for (let i = 0; i < d; i++) p += capped.residPost![2][t * d + i] * ua[i];
      expect(p).toBeGreaterThan(1.5 - 1e-4);
    }
  });

  it('refuses what it cannot run with a sentence: a float file, token ids outside the vocabulary, a sequence past max_position_embeddings, non-finite activations', () => {
    const { cfg, ck } = tinyModel('llama', 3, { num_hidden_layers: 2, max_position_embeddings: 16 });
    expect(() => OwnDecoder.fromOnnx(buildDecoder(ck, { style: 'optimum', dtype: 'fp32' }).onnx, cfg)).toThrow(/No MatMulInteger linear/);
    const own = OwnDecoder.fromOnnx(buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx, cfg);
    expect(() => own.forward([cfg.vocabSize], own.newCache())).toThrow(/outside the vocabulary/);
    expect(() => own.forward(new Array(17).fill(1), own.newCache())).toThrow(/more than the model's 16/);
    const huge = buildInterventions(cfg, { steer: [{ vector: new Float32Array(cfg.hiddenSize).fill(1), layers: [0], alpha: 1e308 }] });
    expect(() => own.forward([1, 2], own.newCache(), { interventions: huge })).toThrow(/after layer 0 is not finite/);
    const other = tinyModel('llama', 3, { num_hidden_layers: 2, hidden_size: 64 });
    expect(() => OwnDecoder.fromOnnx(buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx, other.cfg)).toThrow(/config says/);
  });
});

describe('own decoder batched step', () => {
  it('a batch of rows gives each row what it gives alone, bit for bit, through per-row run calls or one runRows call when the linear has it', async () => {
    const { Linear } = await import('./linear');
    const { cfg, ck } = tinyModel('qwen3', 6, { num_hidden_layers: 2 });
    const own = OwnDecoder.fromOnnx(buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx, cfg);
    const prompts = [PROMPT, [9, 8], [250, 1, 2, 3]];
    const iv = buildInterventions(cfg, { steer: [{ vector: new Float32Array(cfg.hiddenSize).fill(1), layers: [0], alpha: 3 }] });
    const batch = () => {
      const caches = prompts.map(() => own.newCache());
      caches.forEach((c, b) => c.reserve(prompts[b].length));
      const slots = prompts.map((p) => p.map((_, t) => t));
      return own.step(prompts.map((ids, b) => ({ ids, positions: slots[b], slots: slots[b], kv: caches[b], mask: null, iv: b === 1 ? iv : null })), { taps: true });
    };
    const alone = prompts.map((p, b) => own.forward(p, own.newCache(), { taps: true, interventions: b === 1 ? iv : undefined }));
    const check = (r: ReturnType<typeof batch>) => {
      let m = 0;
      prompts.forEach((p, b) => {
        expect(Array.from(r.logits.subarray(m * cfg.vocabSize, (m + p.length) * cfg.vocabSize))).toEqual(Array.from(alone[b].logits));
        for (let l = 0; l < cfg.numLayers; l++) {
          const M = r.logits.length / cfg.vocabSize, d = cfg.hiddenSize;
          expect(Array.from(r.residPost!.subarray((l * M + m) * d, (l * M + m + p.length) * d))).toEqual(Array.from(alone[b].residPost![l]));
        }
        m += p.length;
      });
      expect(Array.from(r.failedAt)).toEqual([-1, -1, -1]);
    };
    check(batch());
    // the one-call seam: a reference runRows (row by row through run), called once per linear with all the tokens
    const proto = Linear.prototype as unknown as Record<string, unknown>;
    const own0 = Object.getOwnPropertyDescriptor(proto, 'runRows');
    const calls: number[] = [];
    proto.runRows = function (this: InstanceType<typeof Linear>, codes: Uint8Array, zps: Int32Array, scales: Float32Array, M: number, out: Float32Array) {
      calls.push(M);
      for (let m = 0; m < M; m++) this.run({ codes: codes.subarray(m * this.K, (m + 1) * this.K), zeroPoint: zps[m], scale: scales[m] }, 1, out.subarray(m * this.N, (m + 1) * this.N) as Float32Array<ArrayBuffer>);
      return out;
    };
    try {
      check(batch());
    } finally {
      if (own0) Object.defineProperty(proto, 'runRows', own0);
      else delete proto.runRows;
    }
    const M = prompts.reduce((a, p) => a + p.length, 0);
    // 4 linears per layer, and the lm_head
    expect(calls).toEqual(new Array(4 * cfg.numLayers + 1).fill(M));
  });

  it("logits 'rowLast': each row's last token's logits bit for bit what 'all' gives there (its row's quantisation), on 1 thread and a 2-thread pool; a row whose residual stream fails is NaN, the others unchanged", async () => {
    const { nodeKernelPool } = await import('../../../../workers/own-pool-node');
    const { cfg, ck } = tinyModel('qwen3', 6, { num_hidden_layers: 2 });
    const onnx = buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx;
    const prompts = [PROMPT, [9, 8], [250, 1, 2, 3], [77]];
    const V = cfg.vocabSize;
    const iv = buildInterventions(cfg, { steer: [{ vector: new Float32Array(cfg.hiddenSize).fill(1), layers: [0], alpha: 3 }] });
    const huge = buildInterventions(cfg, { steer: [{ vector: new Float32Array(cfg.hiddenSize).fill(1), layers: [1], alpha: 1e308 }] });
    const pool = await nodeKernelPool(2);
    try {
      for (const own of [OwnDecoder.fromOnnx(onnx, cfg), OwnDecoder.fromOnnx(onnx, cfg, undefined, { pool })]) {
        const step = (mode: 'all' | 'rowLast', fail: boolean) => {
          const caches = prompts.map(() => own.newCache());
          caches.forEach((c, b) => c.reserve(prompts[b].length));
          const slots = prompts.map((p) => p.map((_, t) => t));
          return own.step(prompts.map((ids, b) => ({ ids, positions: slots[b], slots: slots[b], kv: caches[b], mask: null, iv: b === 1 ? iv : b === 2 && fail ? huge : null })), { logits: mode });
        };
        for (const fail of [false, true]) {
          const all = step('all', fail), cut = step('rowLast', fail);
          expect(cut.logits.length).toBe(prompts.length * V);
          expect(Array.from(cut.failedAt)).toEqual(Array.from(all.failedAt));
          let m = 0;
          prompts.forEach((p, b) => {
            m += p.length;
            const mine = Array.from(cut.logits.subarray(b * V, (b + 1) * V));
            if (fail && b === 2) expect(mine.every((x) => Number.isNaN(x))).toBe(true);
            else expect(mine).toEqual(Array.from(all.logits.subarray((m - 1) * V, m * V)));
          });
          expect(cut.failedAt[2] >= 0).toBe(fail);
        }
      }
    } finally {
      await pool.close();
    }
  });
});

/** a (js) and b (wasm) the same values, bit for bit (Object.is: -0 is not 0). */
function same(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  expect(a.length, what).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect(`${what}: ${i} is ${b[i]} on wasm, ${a[i]} on js`).toBe('');
}

describe('own decoder ops: wasm (ops-wasm.ts) = js (the scalar code), bit for bit', () => {
  it.each([['qwen3', 'optimum', 'f32'], ['llama', 'genai', 'f32'], ['qwen3', 'optimum', 'f64']] as const)('%s %s, attention path %s: forward with taps (prefill, decode), a masked batched step, greedy', (family, style, path) => {
    setAttentionPath(path);
    onTestFinished(() => setAttentionPath('f32'));
    const { cfg, ck } = tinyModel(family, 7, { num_hidden_layers: 2 });
    const onnx = buildDecoder(ck, { style, dtype: 'q8' }).onnx;
    const js = OwnDecoder.fromOnnx(onnx, cfg, undefined, { ops: 'js' });
    const wasm = OwnDecoder.fromOnnx(onnx, cfg);
    expect([js.ops, wasm.ops]).toEqual(['js', 'wasm']);
    const cj = js.newCache(), cw = wasm.newCache();
    for (const ids of [PROMPT, ...STEPS]) {
      const a = js.forward(ids, cj, { taps: true }), b = wasm.forward(ids, cw, { taps: true });
      same(a.logits, b.logits, 'logits');
      for (let l = 0; l < cfg.numLayers; l++) same(a.residPost![l], b.residPost![l], `resid_post ${l}`);
    }
    for (let l = 0; l < cfg.numLayers; l++) {
      same(cj.keys[l].subarray(0, cj.stride * cfg.numKvHeads * cfg.headDim), cw.keys[l].subarray(0, cw.stride * cfg.numKvHeads * cfg.headDim), `keys ${l}`);
      same(cj.values[l], cw.values[l], `values ${l}`);
    }
    // a batch: a row of its own cache, and a row in a shared buffer (stride 12, from base) whose
    // slots 2, 3 and 7 are padding (masked) and whose new tokens sit at slots 0, 1, 4, 5, 6
    const { numLayers: nL, numKvHeads: KV, headDim: hd } = cfg;
    const batch = (d: OwnDecoder) => {
      const c = d.newCache();
      c.reserve(PROMPT.length);
      const stride = 12, base = KV * stride * hd;
      const rng = new Pcg32(3);
      const buf = () => Float32Array.from({ length: 2 * KV * stride * hd }, () => rng.float() - 0.5); // the padding slots hold junk
      const kv = { keys: Array.from({ length: nL }, buf), values: Array.from({ length: nL }, buf), base, stride };
      const mask = Uint8Array.from({ length: stride }, (_, j) => (j === 2 || j === 3 || j === 7 ? 0 : 1));
      return d.step([
        { ids: PROMPT, positions: PROMPT.map((_, t) => t), slots: PROMPT.map((_, t) => t), kv: c, mask: null },
        { ids: [5, 9, 250, 1, 77], positions: [0, 1, 2, 3, 4], slots: [0, 1, 4, 5, 6], kv, mask },
      ], { taps: true });
    };
    const a = batch(js), b = batch(wasm);
    same(a.logits, b.logits, 'batch logits');
    same(a.residPost!, b.residPost!, 'batch resid_post');
    same(a.capLift!, b.capLift!, 'batch cap lifts');
    expect(Array.from(b.failedAt)).toEqual([-1, -1]);
    expect(wasm.greedy(PROMPT, 8).ids).toEqual(js.greedy(PROMPT, 8).ids);
  });
});

describe('own decoder ops: wasm = js over long contexts, odd head counts and head sizes, padded rows', () => {
  it.each([
    ['4 heads of 16, 2 kv heads', {}],
    ['3 heads of 24, 1 kv head (RoPE in JS: 24 is not a multiple of 8)', { num_attention_heads: 3, num_key_value_heads: 1, head_dim: 24 }],
    ['6 heads of 8, 3 kv heads', { num_attention_heads: 6, num_key_value_heads: 3, head_dim: 8 }],
  ] as const)('qwen3, %s: a 300-token prefill, decode steps, a batch of 3 rows (one padded at 300 slots)', (_, shape) => {
    const { cfg, ck } = tinyModel('qwen3', 9, { num_hidden_layers: 2, ...shape });
    const onnx = buildDecoder(ck, { style: 'optimum', dtype: 'q8' }).onnx;
    const js = OwnDecoder.fromOnnx(onnx, cfg, undefined, { ops: 'js' });
    const wasm = OwnDecoder.fromOnnx(onnx, cfg);
    expect([js.ops, wasm.ops]).toEqual(['js', 'wasm']);
    const rng = new Pcg32(5);
    const long = Array.from({ length: 300 }, () => Math.floor(rng.float() * cfg.vocabSize));
    const cj = js.newCache(), cw = wasm.newCache();
    for (const ids of [long, [7], [99], [250]]) {
      const a = js.forward(ids, cj, { taps: true }), b = wasm.forward(ids, cw, { taps: true });
      same(a.logits, b.logits, `logits after ${cj.length} tokens`);
      for (let l = 0; l < cfg.numLayers; l++) same(a.residPost![l], b.residPost![l], `resid_post ${l} after ${cj.length} tokens`);
    }
    // decode-shaped batch: 3 rows of one new token each; row 0 a long past with padding slots
    const { numLayers: nL, numKvHeads: KV, headDim: hd } = cfg;
    const batch = (d: OwnDecoder) => {
      const r = new Pcg32(8);
      const kvOf = (stride: number) => {
        const buf = () => Float32Array.from({ length: KV * stride * hd }, () => r.float() - 0.5);
        return { keys: Array.from({ length: nL }, buf), values: Array.from({ length: nL }, buf), base: 0, stride };
      };
      const mask = Uint8Array.from({ length: 320 }, (_, j) => (j % 7 === 3 || (j > 100 && j < 140) ? 0 : 1));
      return d.step([
        { ids: [11], positions: [260], slots: [300], kv: kvOf(320), mask },
        { ids: [12], positions: [2], slots: [2], kv: kvOf(16), mask: null },
        { ids: [13], positions: [40], slots: [40], kv: kvOf(64), mask: null },
      ], { taps: true });
    };
    const a = batch(js), b = batch(wasm);
    same(a.logits, b.logits, 'batch logits');
    same(a.residPost!, b.residPost!, 'batch resid_post');
    expect(Array.from(b.failedAt)).toEqual([-1, -1, -1]);
  });
});
