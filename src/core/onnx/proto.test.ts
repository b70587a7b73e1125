import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import {
  attrInt, decodeModel, encodeModel, encodeModelChunks, makeF32Tensor, makeI64Tensor, makeNode, makeValueInfo, tensorBytes, TensorDataType, type ModelProto,
} from './proto';

function sliceModel(): ModelProto {
  // y = Slice(x + w, starts=[1], ends=[INT64_MAX], axes=[1]) ; exercises raw_data, int64 extremes, attributes.
  return {
    ir_version: 8,
    opset_import: [{ domain: '', version: 17 }],
    producer_name: 'persona-space-test',
    graph: {
      name: 'g',
      node: [
        makeNode('Add', ['x', 'w'], ['s'], 'add'),
        makeNode('Slice', ['s', 'starts', 'ends', 'axes'], ['sl'], 'slice'),
        makeNode('Flatten', ['sl'], ['y'], 'flat', [attrInt('axis', 0)]),
      ],
      initializer: [
        makeF32Tensor('w', [2, 3], [1, 2, 3, 4, 5, 6]),
        makeI64Tensor('starts', [1], [1]),
        makeI64Tensor('ends', [1], [2 ** 63]),
        { name: 'axes', data_type: TensorDataType.INT64, dims: [1], int64_data: [1] },
      ],
      input: [makeValueInfo('x', TensorDataType.FLOAT, ['batch', 3])],
      output: [makeValueInfo('y', TensorDataType.FLOAT, [1, 'n'])],
      value_info: [],
    },
  };
}

describe('onnx proto', () => {
  it('encodes a model onnxruntime runs, and decodes it back', async () => {
    const bytes = encodeModel(sliceModel());
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array([0, 0, 0, 10, 10, 10]), [2, 3]) });
    expect(Array.from(r.y.data as Float32Array)).toEqual([2, 3, 15, 16]);

    const m = decodeModel(bytes);
    expect(m.graph.node.map((n) => n.op_type)).toEqual(['Add', 'Slice', 'Flatten']);
    expect(m.graph.node[2].attribute[0].i).toBe(0);
    expect(m.graph.input[0].type?.tensor_type?.shape?.dim[0].dim_param).toBe('batch');
    const ends = new BigInt64Array(tensorBytes(m.graph.initializer[2]).slice().buffer);
    expect(ends[0]).toBe(0x7fffffffffffffffn);
    // raw_data is a view into the encoded bytes, not a copy
    expect(m.graph.initializer[0].raw_data!.buffer).toBe(bytes.buffer);
    // re-encoding the decoded model gives a model that behaves the same
    const again = encodeModel(m);
    const s2 = await ort.InferenceSession.create(again);
    const r2 = await s2.run({ x: new ort.Tensor('float32', new Float32Array([0, 0, 0, 10, 10, 10]), [2, 3]) });
    expect(Array.from(r2.y.data as Float32Array)).toEqual([2, 3, 15, 16]);
  });

  it('keeps INT64_MAX in int attributes exact through decode/encode', () => {
    const m = sliceModel();
    m.graph.node[2].attribute.push(attrInt('big', 2 ** 63));
    const d = decodeModel(encodeModel(decodeModel(encodeModel(m))));
    expect(d.graph.node[2].attribute[1].i).toBe(2 ** 63);
  });

  it('writes large raw_data by hand and reads it back intact, chunks concatenating to the same bytes', async () => {
    const m = sliceModel();
    const big = new Float32Array(100_000).map((_, i) => Math.sin(i));
    m.graph.initializer.push(makeF32Tensor('big', [100_000], big));
    m.graph.node.push(makeNode('ReduceSum', ['big'], ['total'], 'sum', [attrInt('keepdims', 0)]));
    m.graph.output.push(makeValueInfo('total', TensorDataType.FLOAT, []));
    const chunks = encodeModelChunks(m);
    expect(chunks.some((c) => c.buffer === big.buffer)).toBe(true); // referenced, not copied
    const bytes = encodeModel(m);
    expect(bytes.byteLength).toBe(chunks.reduce((a, c) => a + c.byteLength, 0));
    const d = decodeModel(bytes);
    expect(new Float32Array(d.graph.initializer[4].raw_data!.slice().buffer)).toEqual(big);
    expect(d.graph.node.map((n) => n.name)).toEqual(['add', 'slice', 'flat', 'sum']);
    const s = await ort.InferenceSession.create(bytes);
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array(6), [2, 3]) });
    expect((r.total.data as Float32Array)[0]).toBeCloseTo(big.reduce((a, v) => a + v, 0), 1);
  });

  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]))).toThrow(/not a valid ONNX model/);
  });
});
