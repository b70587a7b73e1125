/** dequantizeMatMulNBitsAsync (dequantize.ts): the synchronous conversion's bytes, a node a step, with progress and a cancel between nodes. */
import { describe, expect, it } from 'vitest';
import { buildDecoder } from '../../lm/builder';
import { tinyModel } from '../../lm/builder/ort-node.testkit';
import { dequantizeCost, dequantizeMatMulNBits, dequantizeMatMulNBitsAsync, type DequantizeProgress } from './dequantize';

const { ck } = tinyModel('qwen3', 2, { num_hidden_layers: 2 });
const q4 = buildDecoder(ck, { style: 'optimum', dtype: 'q4' }).onnx;

describe('converting 4-bit weights in steps', () => {
  it('gives the synchronous conversion\'s model and external data byte for byte; progress counts every node from 0', async () => {
    const nodes = dequantizeCost(q4, 'int8').nodes;
    expect(nodes).toBeGreaterThan(2);
    const seen: DequantizeProgress[] = [];
    let turns = 0;
    const a = await dequantizeMatMulNBitsAsync(q4, { target: 'int8', onProgress: (p) => seen.push(p), yieldNow: async () => { turns++; } });
    const b = dequantizeMatMulNBits(q4, { target: 'int8' });
    expect(a.model).toEqual(b.model);
    expect(a.externalData.map((f) => f.path)).toEqual(b.externalData.map((f) => f.path));
    a.externalData.forEach((f, i) => expect(f.data).toEqual(b.externalData[i].data));
    expect(a.converted).toBe(nodes);
    expect(seen).toEqual(Array.from({ length: nodes + 1 }, (_, i) => ({ done: i, total: nodes })));
    expect(turns).toBe(nodes + 1);
  });

  it('a cancel between nodes rejects with an AbortError and converts no more', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    await expect(dequantizeMatMulNBitsAsync(q4, { target: 'fp32', signal: ac.signal, onProgress: (p) => { seen.push(p.done); if (p.done === 2) ac.abort(); } }))
      .rejects.toMatchObject({ name: 'AbortError', message: 'Converting the 4-bit weights was cancelled.' });
    expect(seen).toEqual([0, 1, 2]);
  });
});
