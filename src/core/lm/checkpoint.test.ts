import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeF32 } from '../tensor';
import { parseConfig, tinyConfigJson } from './config';
import {
  checkpointFromSafetensors, checkpointSpec, planShards, randomCheckpoint, readSafetensors, writeSafetensors,
} from './checkpoint';
import { DataError, FormatError } from '../errors';
import { props } from '../formats/test-props';

const cfg = parseConfig(tinyConfigJson('qwen2', { num_hidden_layers: 2 }));

describe('random checkpoints', () => {
  it('hold every HF tensor with the right shape, and are reproducible from the seed', () => {
    const a = randomCheckpoint(cfg, { seed: 11 });
    const b = randomCheckpoint(cfg, { seed: 11 });
    const c = randomCheckpoint(cfg, { seed: 12 });
    expect(a.names()).toContain('model.layers.1.self_attn.k_proj.bias');
    expect(a.names()).not.toContain('lm_head.weight'); // tied
    for (const s of checkpointSpec(cfg)) expect(a.tensor(s.name).shape).toEqual(s.shape);
    const n = 'model.layers.0.mlp.up_proj.weight';
    expect(decodeF32(a.tensor(n))).toEqual(decodeF32(b.tensor(n)));
    expect(decodeF32(a.tensor(n))).not.toEqual(decodeF32(c.tensor(n)));
    expect(() => a.tensor('nope')).toThrow(DataError);
  });

  it('have sane scales: matrices ~ 1/sqrt(fan_in), norms near 1', () => {
    const ck = randomCheckpoint(tinyConfigJson('llama', { hidden_size: 256, intermediate_size: 512 }), { seed: 1 });
    const w = decodeF32(ck.tensor('model.layers.0.mlp.down_proj.weight'));
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeCloseTo(1 / Math.sqrt(512), 2);
    const g = decodeF32(ck.tensor('model.norm.weight'));
    const mean = g.reduce((s, v) => s + v, 0) / g.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.03);
    expect(Math.max(...g.map((v) => Math.abs(v - 1)))).toBeGreaterThan(0.05); // jittered, not all ones
  });

  it('bf16 checkpoints hold the bf16-rounded values', () => {
    const f = randomCheckpoint(cfg, { seed: 2 }).tensor('model.norm.weight');
    const h = randomCheckpoint(cfg, { seed: 2, dtype: 'bfloat16' }).tensor('model.norm.weight');
    expect(h.dtype).toBe('bfloat16');
    const df = decodeF32(f), dh = decodeF32(h);
    for (let i = 0; i < df.length; i++) expect(Math.abs(df[i] - dh[i])).toBeLessThanOrEqual(Math.abs(df[i]) * 2 ** -8);
  });
});

describe('safetensors checkpoints', () => {
  it('round-trip through safetensors shards, read back as views', () => {
    const ck = randomCheckpoint(cfg, { seed: 4 });
    const plan = planShards(ck, 'float32', 20_000);
    expect(plan.files.length).toBeGreaterThan(1);
    expect(Object.keys(plan.index!.weight_map).length).toBe(checkpointSpec(cfg).length);
    const files = plan.files.map((f) => ({ name: f.file, bytes: writeSafetensors(f.tensors.map((t) => [t.name, ck.tensor(t.name)])) }));
    const back = checkpointFromSafetensors(JSON.stringify(tinyConfigJson('qwen2', { num_hidden_layers: 2 })), files);
    for (const s of checkpointSpec(cfg)) expect(decodeF32(back.tensor(s.name))).toEqual(decodeF32(ck.tensor(s.name)));
    const t = back.tensor('model.embed_tokens.weight');
    expect(files.some((f) => f.bytes.buffer === t.data.buffer)).toBe(true);
  });

  it('names the missing or misshapen tensor', () => {
    const ck = randomCheckpoint(cfg, { seed: 4 });
    const all = checkpointSpec(cfg).map((s) => [s.name, ck.tensor(s.name)] as [string, ReturnType<typeof ck.tensor>]);
    const missing = writeSafetensors(all.filter(([n]) => n !== 'model.layers.1.self_attn.v_proj.bias'));
    expect(() => checkpointFromSafetensors(JSON.stringify(tinyConfigJson('qwen2', { num_hidden_layers: 2 })), [{ name: 'a', bytes: missing }])).toThrow(/v_proj\.bias/);
    const wrong = writeSafetensors(all);
    expect(() => checkpointFromSafetensors(JSON.stringify(tinyConfigJson('qwen2', { num_hidden_layers: 2, intermediate_size: 96 })), [{ name: 'a', bytes: wrong }])).toThrow(/shape/);
    expect(() => checkpointFromSafetensors('{}', [])).toThrow(/no \.safetensors/);
  });

  it('corrupt or truncated safetensors give FormatErrors, never a crash', () => {
    const good = writeSafetensors([['x', { dtype: 'float32', shape: [3, 2], data: new Uint8Array(24) }]]);
    fc.assert(fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), (cut, byte) => {
      const trunc = good.slice(0, cut);
      try { readSafetensors(trunc); } catch (e) { expect(e).toBeInstanceOf(FormatError); }
      const flipped = good.slice();
      flipped[Math.min(cut, 7 + (cut % 40))] = byte;
      try { readSafetensors(flipped); } catch (e) { expect(e).toBeInstanceOf(FormatError); }
    }), props({ numRuns: 300 }));
  });
});
