import { describe, expect, it } from 'vitest';
import { parseConfig, tinyConfigJson } from './config';
import { randomCheckpoint } from './checkpoint';
import { referenceForward } from './reference';

const cfg = parseConfig(tinyConfigJson('qwen3', { num_hidden_layers: 2 }));
const ck = randomCheckpoint(cfg, { seed: 9 });

describe('referenceForward', () => {
  it('is causal: a prefix gives the same outputs as the whole sequence at those positions', () => {
    const full = referenceForward(cfg, ck, [4, 8, 15, 16, 23]);
    const pre = referenceForward(cfg, ck, [4, 8, 15]);
    const V = cfg.vocabSize, d = cfg.hiddenSize;
    for (let i = 0; i < 3 * V; i++) expect(pre.logits[i]).toBeCloseTo(full.logits[i], 10);
    for (let i = 0; i < 3 * d; i++) expect(pre.residPost[1][i]).toBeCloseTo(full.residPost[1][i], 10);
    // and later tokens do change later positions
    const other = referenceForward(cfg, ck, [4, 8, 15, 99, 23]);
    expect(Math.abs(other.logits[4 * V] - full.logits[4 * V])).toBeGreaterThan(1e-6);
  });

  it('returns one resid_post and resid_mid per layer, and a single token ignores position 0 rotation', () => {
    const out = referenceForward(cfg, ck, [42]);
    expect(out.residPost).toHaveLength(cfg.numLayers);
    expect(out.residMid[0]).toHaveLength(cfg.hiddenSize);
    expect(out.logits).toHaveLength(cfg.vocabSize);
    // RoPE is relative: shifting every position by the same amount leaves the outputs unchanged
    const a = referenceForward(cfg, ck, [1, 2, 3]);
    const b = referenceForward(cfg, ck, [1, 2, 3], { positionIds: [10, 11, 12] });
    for (let i = 0; i < a.logits.length; i++) expect(b.logits[i]).toBeCloseTo(a.logits[i], 6);
  });
});
