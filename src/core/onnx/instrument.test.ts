import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { buildInterventions } from '../lm/interventions';
import { capLift, interventionFeeds, tapRow } from '../lm/ort';
import { PersonaSpaceError } from '../errors';
import { CAP_AXIS_INPUT, CAP_LIFT_OUTPUT, CAP_TAU_INPUT, instrumentDecoder, RESID_POST_OUTPUT, ROWS_DIM, STEER_INPUT, UnsupportedGraphError } from './instrument';
import { decodeModel, encodeModel, makeNode, makeTensor, makeValueInfo, TensorDataType } from './proto';
import { externalizeWeights } from './rewrite/externalize';
import { toyDecoder } from './rewrite/toy';
import { Harness, maxAbsDiff, proveInstrumentation, randomVector, toF32, unit } from './rewrite/prove.testkit';

const IDS = [[3, 1, 4, 1, 5, 9]];
const IDS2 = [[3, 1, 4, 1, 5], [2, 7, 1, 8, 2]];

describe('instrumentDecoder on toy decoders (graph rewrite only)', () => {
  for (const style of ['optimum', 'genai'] as const) {
    for (const dtype of ['float32', 'float16'] as const) {
      it(`${style} ${dtype}: off = original, steering and capping exact`, async () => {
        const bytes = toyDecoder({ style, numLayers: 3, hiddenSize: 32, dtype, vocabSize: 16 });
        const h = await new Harness(ort, { label: `${style}-${dtype}`, bytes, vocabSize: 16 }).open();
        expect(h.dims).toMatchObject({ style, numLayers: 3, hiddenSize: 32, residDtype: dtype });
        expect(h.dims.warnings).toEqual([]);
        // fp16: the model's own residual is rounded to half precision; the taps are its float32 view.
        await proveInstrumentation(h, style === 'genai' ? IDS : IDS2, dtype === 'float32' ? { logitTol: 1e-6, tapRelTol: 1e-6 } : { logitTol: 4e-3, tapRelTol: 2 ** -10 });
      });
    }
  }

  it('per-row interventions ([rows, L, d]): each batch row equals that row run alone, and cap_lift counts the clamped positions', async () => {
    for (const style of ['optimum', 'genai'] as const) {
      const bytes = toyDecoder({ style, numLayers: 3, hiddenSize: 32, vocabSize: 16 });
      const h = await new Harness(ort, { label: style, bytes, vocabSize: 16 }).open();
      const rows = [
        buildInterventions(h.dims, { steer: [{ vector: randomVector(32, 3), layers: [1], alpha: 3 }] }),
        buildInterventions(h.dims, { cap: [{ vector: randomVector(32, 4), layers: [0, 2], tau: 50 }] }),
      ];
      const ids = style === 'genai' ? [IDS[0], IDS[0]] : IDS2;
      const feeds = { ...h.feeds(ids), ...interventionFeeds(ort, h.dims, rows) };
      const o = await h.instrumented.run(feeds);
      const V = 16, S = ids[0].length;
      const logits = toF32(o.logits);
      const lift = capLift(o)!;
      expect(lift.dims).toEqual([3, 2, S]);
      for (let b = 0; b < 2; b++) {
        const alone = await h.run([ids[b]], rows[b]);
        expect(maxAbsDiff(logits.subarray(b * S * V, (b + 1) * S * V), alone.logits)).toBeLessThanOrEqual(1e-5);
      }
      // tau 50 is far above every projection: row 1 is lifted at layer 0 everywhere, never at the
      // uncapped layer 1; row 0 (no cap) never
      for (let l = 0; l < 3; l++) for (let s = 0; s < S; s++) {
        expect(lift.data[(l * 2 + 0) * S + s]).toBe(0);
        if (l === 0) expect(lift.data[(l * 2 + 1) * S + s]).toBeGreaterThan(0);
        if (l === 1) expect(lift.data[(l * 2 + 1) * S + s]).toBe(0);
      }
    }
  });

  it('handles a one-layer model (the last layer is also the first)', async () => {
    for (const style of ['optimum', 'genai'] as const) {
      const h = await new Harness(ort, { label: style, bytes: toyDecoder({ style, numLayers: 1, hiddenSize: 16 }), vocabSize: 16 }).open();
      expect(h.dims.numLayers).toBe(1);
      await proveInstrumentation(h, IDS, { logitTol: 1e-6, tapRelTol: 1e-6 });
    }
  });

  it('finds resid_post where the exporters name it (names only cross-check the structural search)', () => {
    const opt = new Harness(ort, { label: 'o', bytes: toyDecoder({ style: 'optimum', numLayers: 4, hiddenSize: 8 }), vocabSize: 16 });
    expect(opt.ref.residualNames).toEqual([0, 1, 2, 3].map((i) => `/model/layers.${i}/Add_1_output_0`));
    const gen = new Harness(ort, { label: 'g', bytes: toyDecoder({ style: 'genai', numLayers: 4, hiddenSize: 8 }), vocabSize: 16 });
    expect(gen.ref.residualNames.slice(0, 3)).toEqual([1, 2, 3].map((i) => `/model/layers.${i}/input_layernorm/output_3`));
  });

  it('declares the new inputs and the packed tap output', () => {
    const { graph, info } = instrumentDecoder(toyDecoder({ style: 'genai', numLayers: 3, hiddenSize: 8 }));
    const m = decodeModel(graph);
    const shape = (name: string, list: typeof m.graph.input) =>
      list.find((v) => v.name === name)!.type!.tensor_type!.shape!.dim.map((x) => x.dim_value ?? x.dim_param);
    expect(shape(STEER_INPUT, m.graph.input)).toEqual([ROWS_DIM, 3, 8]);
    expect(shape(CAP_AXIS_INPUT, m.graph.input)).toEqual([ROWS_DIM, 3, 8]);
    expect(shape(CAP_TAU_INPUT, m.graph.input)).toEqual([ROWS_DIM, 3]);
    expect(shape(RESID_POST_OUTPUT, m.graph.output)).toEqual([3, 'batch_size', 'sequence_length', 8]);
    expect(shape(CAP_LIFT_OUTPUT, m.graph.output)).toEqual([3, 'batch_size', 'sequence_length']);
    expect(info.inputNames).toEqual(['input_ids', STEER_INPUT, CAP_AXIS_INPUT, CAP_TAU_INPUT]);
    expect(info.outputNames).toEqual(['logits', RESID_POST_OUTPUT, CAP_LIFT_OUTPUT]);
    // none of the new inputs is an initializer (onnxruntime-web would hide it)
    expect(m.graph.initializer.map((t) => t.name)).not.toContain(STEER_INPUT);
    // only ops onnxruntime-web has on WASM and WebGPU, and no Max
    const added = m.graph.node.filter((n) => n.name?.startsWith('/persona_space')).map((n) => n.op_type);
    expect(new Set(added)).toEqual(new Set(['Split', 'Transpose', 'Add', 'MatMul', 'Sub', 'Relu', 'Mul', 'Unsqueeze', 'Concat', 'Squeeze']));
  });

  it('leaves the weights in the original buffer: a small graph plus views, no copy', () => {
    const bytes = toyDecoder({ style: 'optimum', numLayers: 4, hiddenSize: 64, vocabSize: 256 });
    const { graph, externalData } = instrumentDecoder(bytes);
    expect(graph.byteLength).toBeLessThan(bytes.byteLength / 10);
    expect(externalData).toHaveLength(1);
    expect(externalData[0].data.buffer).toBe(bytes.buffer);
    expect(externalData[0].data.byteLength).toBeLessThan(bytes.byteLength);
  });

  it('keeps a model\'s own external data (model.onnx_data) external and passes it through', async () => {
    const inline = toyDecoder({ style: 'genai', numLayers: 2, hiddenSize: 64 });
    // Make a split model: graph + a separate data file, as exporters write them.
    const m = decodeModel(inline);
    const { files } = externalizeWeights(m.graph, inline, { path: 'model.onnx_data', threshold: 1024 });
    const dataFile = { path: 'model.onnx_data', data: files[0].data.slice() };
    const graphOnly = encodeModel(m);
    expect(() => instrumentDecoder(graphOnly)).toThrow(/model\.onnx_data/);
    const h = await new Harness(ort, { label: 'ext', bytes: graphOnly, externalData: [dataFile], vocabSize: 16 }).open();
    expect(h.inst.externalData.map((f) => f.data)).toContain(dataFile.data);
    await proveInstrumentation(h, IDS, { logitTol: 1e-6, tapRelTol: 1e-6 });
  });

  it('refuses a graph that is not a decoder, saying what it expected and what it found', () => {
    const conv = encodeModel({
      ir_version: 8,
      opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'conv',
        node: [makeNode('Conv', ['x', 'w'], ['y'], 'conv'), makeNode('Relu', ['y'], ['z'], 'relu')],
        initializer: [makeTensor('w', TensorDataType.FLOAT, [1, 1, 3, 3], new Float32Array(9))],
        input: [makeValueInfo('x', TensorDataType.FLOAT, [1, 1, 8, 8])],
        output: [makeValueInfo('z', TensorDataType.FLOAT, [1, 1, 6, 6])],
        value_info: [],
      },
    });
    let err: unknown;
    try { instrumentDecoder(conv); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(UnsupportedGraphError);
    expect(err).toBeInstanceOf(PersonaSpaceError);
    expect((err as Error).message).toMatch(/SkipSimplifiedLayerNormalization/);
    expect((err as Error).message).toMatch(/found Conv x1, Relu x1/);
    expect(() => instrumentDecoder(new Uint8Array([1, 2, 3]))).toThrow(PersonaSpaceError);
  });

  it('refuses to instrument twice', () => {
    const once = instrumentDecoder(toyDecoder({ style: 'optimum', numLayers: 2, hiddenSize: 8 }));
    expect(() => instrumentDecoder(once.graph)).toThrow(/instrumented twice/);
  });

  it('runs on onnxruntime-web (WASM) in Node with the same numbers as onnxruntime-node', async () => {
    ortWeb.env.wasm.numThreads = 1;
    const bytes = toyDecoder({ style: 'genai', numLayers: 3, hiddenSize: 32 });
    const node = await new Harness(ort, { label: 'node', bytes, vocabSize: 16 }).open();
    const web = await new Harness(ortWeb, { label: 'web', bytes, vocabSize: 16 }).open();
    const v = randomVector(32, 5);
    const iv = buildInterventions(web.dims, { steer: [{ vector: v, layers: [1], alpha: 4 }], cap: [{ vector: randomVector(32, 9), layers: [2], tau: 0.5 }] });
    const [a, b] = [await node.run(IDS, iv), await web.run(IDS, iv)];
    expect(maxAbsDiff(a.logits, b.logits)).toBeLessThan(1e-5);
    expect(maxAbsDiff(a.tap.data, b.tap.data)).toBeLessThan(1e-5);
    const off = await web.run(IDS);
    const u = unit(v);
    for (let s = 0; s < IDS[0].length; s++) {
      const d = tapRow(b.tap, 1, 0, s), z = tapRow(off.tap, 1, 0, s);
      for (let j = 0; j < 32; j++) expect(Math.abs(d[j] - z[j] - 4 * u[j])).toBeLessThan(1e-5);
    }
    expect(maxAbsDiff(off.logits, (await web.runOriginal(IDS)).logits)).toBeLessThanOrEqual(1e-6);
  });
});
