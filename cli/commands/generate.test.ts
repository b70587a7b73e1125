import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../main';
import { writeNpy } from '../../src/core/formats/npy';
import { randomCheckpoint } from '../../src/core/lm/checkpoint';
import { syntheticConfig } from '../../src/core/lm/model-source';
import { syntheticTokenizerFiles } from '../../src/core/lm/tokenizer';
import { buildDecoder } from '../../src/core/lm/builder';
import { tensorFromF32 } from '../../src/core/tensor';

function capture(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe('persona-space generate', () => {
  let dir: string;
  let model: string;
  const d = 64;
  const L = 4;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ps-gen-'));
    model = path.join(dir, 'model');
    mkdirSync(path.join(model, 'onnx'), { recursive: true });
    const config = syntheticConfig();
    const built = buildDecoder(randomCheckpoint(config, { seed: 2 }), { style: 'genai', dtype: 'fp32' });
    writeFileSync(path.join(model, 'onnx', built.fileName), built.onnx);
    writeFileSync(path.join(model, 'config.json'), JSON.stringify(config));
    const tok = syntheticTokenizerFiles();
    writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tok.tokenizerJSON));
    writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    const axis = new Float32Array(L * d).map((_, i) => Math.sin(i * 0.37));
    writeFileSync(path.join(dir, 'axis.npy'), writeNpy(tensorFromF32(axis, [L, d])));
    writeFileSync(path.join(dir, 'vec.npy'), writeNpy(tensorFromF32(axis.slice(d, 2 * d), [d])));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints text, token ids and per-token projections as JSON, deterministic for a seed', async () => {
    const argv = ['generate', model, '--prompt', 'Who are you?', '--system', 'Be brief.', '--max-tokens', '5', '--seed', '3', '--temperature', '0.8', '--top-p', '0.9', '--axis', path.join(dir, 'axis.npy'), '--json'];
    const io = capture();
    expect(await main(argv, io)).toBe(0);
    const out = JSON.parse(io.stdout.join(''));
    expect(typeof out.text).toBe('string');
    expect(out.tokens.length).toBeGreaterThan(0);
    expect(out.tokens.length).toBeLessThanOrEqual(5);
    expect(out.projections).toHaveLength(out.tokens.length);
    expect(out.projections[0]).toHaveLength(L);
    const io2 = capture();
    await main(argv, io2);
    expect(JSON.parse(io2.stdout.join('')).tokens).toEqual(out.tokens);
  });

  it('steering at a layer raises that layer’s projection of the first token by alpha (with --layer, one number per token)', async () => {
    const base = ['generate', model, '--prompt', 'hi', '--max-tokens', '2', '--axis', path.join(dir, 'vec.npy'), '--layer', '1', '--json'];
    const io0 = capture();
    expect(await main(base, io0)).toBe(0);
    const io1 = capture();
    expect(await main([...base, '--steer', path.join(dir, 'vec.npy'), '--steer-layers', '1', '--alpha', '3'], io1)).toBe(0);
    const p0 = JSON.parse(io0.stdout.join('')).projections;
    const p1 = JSON.parse(io1.stdout.join('')).projections;
    expect(typeof p0[0]).toBe('number');
    expect(p1[0] - p0[0]).toBeCloseTo(3, 4);
  });

  it('capping raises the projection to at least tau at the capped layer', async () => {
    const io = capture();
    const args = ['generate', model, '--prompt', 'hi', '--max-tokens', '3', '--axis', path.join(dir, 'vec.npy'), '--cap', path.join(dir, 'vec.npy'), '--cap-layers', '2', '--tau', '5', '--json'];
    expect(await main(args, io)).toBe(0);
    const p = JSON.parse(io.stdout.join('')).projections as number[][];
    for (const row of p) expect(row[2]).toBeGreaterThanOrEqual(5 - 1e-4);
  });

  it('fails with one clear line on bad input', async () => {
    const io = capture();
    expect(await main(['generate', dir, '--prompt', 'x'], io)).toBe(1);
    expect(io.stderr.join('')).toMatch(/no onnx\/ folder/);
    const io2 = capture();
    expect(await main(['generate', model], io2)).toBe(2);
    expect(io2.stderr.join('')).toMatch(/--prompt/);
    const io3 = capture();
    expect(await main(['generate', model, '--prompt', 'x', '--steer', path.join(dir, 'vec.npy')], io3)).toBe(2);
    expect(io3.stderr.join('')).toMatch(/--steer-layers/);
  });
});
