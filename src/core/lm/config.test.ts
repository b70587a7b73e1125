import { describe, expect, it } from 'vitest';
import { parseConfig, ropeInvFreq, tinyConfigJson, UnsupportedModelError } from './config';
import { FormatError } from '../errors';

describe('parseConfig', () => {
  it('reads a Llama 3.2 1B config, with head_dim derived and llama3 rope scaling', () => {
    const c = parseConfig({
      model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
      num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 500000, vocab_size: 128256, tie_word_embeddings: true,
      max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    });
    expect(c.headDim).toBe(64);
    expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(c.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(c.tieWordEmbeddings).toBe(true);
    expect([c.qkvBias, c.oBias, c.qkNorm]).toEqual([false, false, false]);
  });

  it('Qwen2 always has q/k/v biases; Qwen3 has q/k norms and an explicit head_dim', () => {
    const q2 = parseConfig(tinyConfigJson('qwen2'));
    expect([q2.qkvBias, q2.oBias, q2.qkNorm]).toEqual([true, false, false]);
    const q3 = parseConfig(tinyConfigJson('qwen3', { head_dim: 128, hidden_size: 1024, num_attention_heads: 16 }));
    expect(q3.headDim).toBe(128);
    expect(q3.qkNorm).toBe(true);
    expect(() => parseConfig({ ...tinyConfigJson('qwen3'), head_dim: undefined })).toThrow(/head_dim/);
  });

  it('refuses unsupported families and broken values with a sentence', () => {
    expect(() => parseConfig({ model_type: 'gemma3' })).toThrow(UnsupportedModelError);
    expect(() => parseConfig('{not json')).toThrow(FormatError);
    expect(() => parseConfig({ ...tinyConfigJson('llama'), num_key_value_heads: 3 })).toThrow(/multiple/);
    expect(() => parseConfig({ ...tinyConfigJson('llama'), hidden_size: -1 })).toThrow(/positive whole number/);
    expect(() => parseConfig({ ...tinyConfigJson('llama'), rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/yarn/);
  });

  it('llama3 rope scaling keeps high frequencies, divides low ones by the factor and blends the band between', () => {
    const base = ropeInvFreq({ headDim: 128, ropeTheta: 500000 });
    const scaled = ropeInvFreq({ headDim: 128, ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } });
    expect(base[0]).toBe(1);
    expect(scaled[0]).toBe(1); // wavelength 2*pi < 2048: unchanged
    expect(scaled[63]).toBeCloseTo(base[63] / 32, 15); // wavelength > 8192: divided
    let medium = 0;
    for (let i = 0; i < 64; i++) {
      const wl = (2 * Math.PI) / base[i];
      if (wl >= 2048 && wl <= 8192) {
        medium++;
        expect(scaled[i]).toBeLessThanOrEqual(base[i]);
        expect(scaled[i]).toBeGreaterThanOrEqual(base[i] / 32);
      }
    }
    expect(medium).toBeGreaterThan(0);
    // linear scaling divides everything
    expect(ropeInvFreq({ headDim: 8, ropeTheta: 10000, ropeScaling: { type: 'linear', factor: 2 } })[1]).toBeCloseTo(0.1 / 2, 12);
  });
});

describe('config sizes are bounded before anything is allocated', () => {
  const bad = (over: Record<string, unknown>) => () => parseConfig(tinyConfigJson('qwen3', over));
  it.each([
    [{ num_hidden_layers: 100000 }, /"num_hidden_layers" is 100000, more than the 1024/],
    [{ hidden_size: 1e9 }, /"hidden_size" is 1000000000, more than the 65536/],
    [{ vocab_size: 2 ** 31 }, /"vocab_size" is 2147483648, more than the 4194304/],
    [{ max_position_embeddings: 2 ** 40 }, /"max_position_embeddings" .* more than/],
    [{ vocab_size: 4000000, hidden_size: 65536 }, /one weight of 2\.62e\+11 values \(vocab_size x hidden_size\), more than the 2\^31/],
  ])('%j: one clear sentence', (over, msg) => {
    expect(bad(over)).toThrow(FormatError);
    expect(bad(over)).toThrow(msg);
    try { bad(over)(); } catch (e) { expect((e as FormatError).code).toBe('config-too-large'); expect((e as Error).message).not.toMatch(/typed array/i); }
  });

  it('real large decoders still parse (Llama 3 405B shape)', () => {
    const c = parseConfig(tinyConfigJson('llama', { hidden_size: 16384, intermediate_size: 53248, num_hidden_layers: 126, num_attention_heads: 128, num_key_value_heads: 8, head_dim: 128, vocab_size: 128256, max_position_embeddings: 131072 }));
    expect(c.numLayers).toBe(126);
  });
});
