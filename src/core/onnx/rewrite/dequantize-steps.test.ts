/**
 * dequantizeMatMulNBitsAsync (dequantize.ts): the synchronous conversion's bytes, a node a step (a
 * node of more than a step's weights, a chunk of its columns a step), with progress and a cancel
 * between steps.
 */
import { describe, expect, it } from 'vitest';
import { buildDecoder } from '../../lm/builder';
import { tinyModel } from '../../lm/builder/ort-node.testkit';
import { CONVERT_STEP_WEIGHTS, dequantizeCost, dequantizeMatMulNBits, dequantizeMatMulNBitsAsync, type DequantizeProgress } from './dequantize';
import { decodeModel, getAttrInt } from '../proto';

const { ck } = tinyModel('qwen3', 2, { num_hidden_layers: 2 });
const q4 = buildDecoder(ck, { style: 'optimum', dtype: 'q4' }).onnx;
/** Each converted node's N x K, in the graph's order. */
const sizes = decodeModel(q4).graph.node.filter((n) => n.op_type === 'MatMulNBits').map((n) => (getAttrInt(n, 'N') ?? 0) * (getAttrInt(n, 'K') ?? 0));
const WEIGHTS = sizes.reduce((a, b) => a + b, 0);

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
    expect(sizes.length).toBe(nodes);
    expect(Math.max(...sizes)).toBeLessThan(CONVERT_STEP_WEIGHTS);
    expect(seen).toEqual(Array.from({ length: nodes + 1 }, (_, i) => ({ done: i, total: nodes, weightsDone: sizes.slice(0, i).reduce((a, b) => a + b, 0), weights: WEIGHTS })));
    expect(turns).toBe(nodes + 1);
  });

  it('a cancel between nodes rejects with an AbortError and converts no more', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    await expect(dequantizeMatMulNBitsAsync(q4, { target: 'fp32', signal: ac.signal, onProgress: (p) => { seen.push(p.done); if (p.done === 2) ac.abort(); } }))
      .rejects.toMatchObject({ name: 'AbortError', message: 'Converting the 4-bit weights was cancelled.' });
    expect(seen).toEqual([0, 1, 2]);
  });

  it('a node of more than a step\'s weights (stepWeights 500 here), a chunk of columns a step: the one-step conversion\'s bytes (int8, fp32); the node count never back nor past all, the weights growing every step by at most a step\'s', async () => {
    const STEP = 500;
    expect(Math.max(...sizes)).toBeGreaterThan(10 * STEP);
    for (const target of ['int8', 'fp32'] as const) {
      const seen: DequantizeProgress[] = [];
      const a = await dequantizeMatMulNBitsAsync(q4, { target, stepWeights: STEP, onProgress: (p) => seen.push(p), yieldNow: async () => {} });
      const b = dequantizeMatMulNBits(q4, { target });
      expect(a.model).toEqual(b.model);
      expect(a.externalData.map((f) => f.path)).toEqual(b.externalData.map((f) => f.path));
      a.externalData.forEach((f, i) => expect(f.data).toEqual(b.externalData[i].data));
      if (target === 'int8') expect(dequantizeMatMulNBits(q4, { target, stepWeights: 1 }).externalData.map((f) => f.data)).toEqual(b.externalData.map((f) => f.data));
      expect(seen.length).toBeGreaterThan(2 * (sizes.length + 1));
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i].done - seen[i - 1].done).toBeGreaterThanOrEqual(0);
        expect(seen[i].done - seen[i - 1].done).toBeLessThanOrEqual(1);
        expect(seen[i].weightsDone).toBeGreaterThan(seen[i - 1].weightsDone);
        expect(seen[i].weightsDone - seen[i - 1].weightsDone).toBeLessThanOrEqual(STEP);
      }
      expect([...new Set(seen.map((p) => p.done))]).toEqual(Array.from({ length: sizes.length + 1 }, (_, i) => i));
      expect(seen.at(-1)).toEqual({ done: sizes.length, total: sizes.length, weightsDone: WEIGHTS, weights: WEIGHTS });
    }
    await expect(dequantizeMatMulNBitsAsync(q4, { target: 'int8', stepWeights: 0 })).rejects.toThrow(/positive/);
  });

  it('a cancel in the middle of a node\'s steps rejects with an AbortError; a conversion after it gives the same bytes', async () => {
    const STEP = 500;
    const last = sizes.length - 1;
    const mid = WEIGHTS - sizes[last] / 2;
    const ac = new AbortController();
    const seen: DequantizeProgress[] = [];
    await expect(dequantizeMatMulNBitsAsync(q4, { target: 'int8', stepWeights: STEP, signal: ac.signal, onProgress: (p) => { seen.push(p); if (p.weightsDone >= mid) ac.abort(); } }))
      .rejects.toMatchObject({ name: 'AbortError' });
    expect(seen.at(-1)!.done).toBe(last);
    expect(seen.at(-1)!.weightsDone).toBeLessThan(WEIGHTS);
    const again = await dequantizeMatMulNBitsAsync(q4, { target: 'int8', stepWeights: STEP });
    again.externalData.forEach((f, i) => expect(f.data).toEqual(dequantizeMatMulNBits(q4, { target: 'int8' }).externalData[i].data));
  });
});
