/**
 * `persona-space pca --all-layers`: every layer's explained-variance ratios, |axis| and
 * cos(axis, PC_k), the same output with worker threads (--threads 3) as on one thread
 * (--threads 1), and the same numbers as the core's cosAxisPcPerLayer. `persona-space axis`
 * shares its per-layer PCA out the same way: the same JSON and the same --out bytes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type CliIO } from '../main';
import { cosAxisPcPerLayer } from '../../src/core/persona/analysis';
import { syntheticPersonaSet } from '../../src/core/persona/synthetic';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (t) => (out += t + '\n'), err: (t) => (err += t + '\n') };
  const code = await main(argv, io);
  return { code, out, err };
}

const SRC = 'synthetic:80x10d64';

describe('pca --all-layers', () => {
  it('prints the same JSON and text with 3 worker threads as with 1, matching the core', async () => {
    const one = await cli('pca', SRC, '--all-layers', '--threads', '1', '--components', '4', '--json');
    const three = await cli('pca', SRC, '--all-layers', '--threads', '3', '--components', '4', '--json');
    expect(one.code).toBe(0);
    expect(three.code).toBe(0);
    expect(three.err).toBe('');
    expect(three.out).toBe(one.out);
    const j = JSON.parse(one.out);
    expect(j.layers).toBe(10);
    expect(j.per_layer).toHaveLength(10);
    const ref = cosAxisPcPerLayer(syntheticPersonaSet({ n: 80, layers: 10, dim: 64 }), 4);
    j.per_layer.forEach((r: { layer: number; explained_variance_ratio: number[]; axis_norm: number; cos_axis_pc: number[] }, l: number) => {
      expect(r.layer).toBe(l);
      expect(r.explained_variance_ratio).toEqual(Array.from(ref[l].explainedVarianceRatio));
      expect(r.cos_axis_pc).toEqual(Array.from(ref[l].cosAxisPc!));
      expect(r.axis_norm).toBe(ref[l].axisNorm);
    });

    const text1 = await cli('pca', SRC, '--all-layers', '--threads', '1');
    const text2 = await cli('pca', SRC, '--all-layers');
    expect(text2.out).toBe(text1.out);
    expect(text1.out.split('\n').filter((line) => /^\s+\d+\s/.test(line))).toHaveLength(10);
  }, 60_000);

  it('refuses --layer with --all-layers, --threads without it, and 0 threads', async () => {
    for (const argv of [['--all-layers', '--layer', '2'], ['--threads', '2'], ['--all-layers', '--threads', '0']]) {
      const r = await cli('pca', SRC, ...argv);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/--all-layers|--threads/);
    }
  });
});

describe('axis --threads', () => {
  it('prints the same JSON and writes the same file with 3 worker threads as with 1, matching the core', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ps-axis-threads-'));
    try {
      const f1 = path.join(dir, 'one.npy'), f3 = path.join(dir, 'three.npy');
      const one = await cli('axis', SRC, '--threads', '1', '--out', f1, '--json');
      const three = await cli('axis', SRC, '--threads', '3', '--out', f3, '--json');
      expect(one.code).toBe(0);
      expect(three.code).toBe(0);
      expect(three.err).toBe('');
      expect({ ...JSON.parse(three.out), out: null }).toEqual({ ...JSON.parse(one.out), out: null });
      expect(Buffer.compare(readFileSync(f1), readFileSync(f3))).toBe(0);
      const ref = cosAxisPcPerLayer(syntheticPersonaSet({ n: 80, layers: 10, dim: 64 }), 1);
      const j = JSON.parse(three.out);
      expect(j.norm).toEqual(ref.map((r) => r.axisNorm));
      expect(j.cos_pc1).toEqual(ref.map((r) => r.cosAxisPc![0]));
      const text = await cli('axis', SRC, '--threads', '2');
      expect(text.out).toBe((await cli('axis', SRC, '--threads', '1')).out);
      const bad = await cli('axis', SRC, '--threads', '0');
      expect(bad.code).not.toBe(0);
      expect(bad.err).toMatch(/--threads must be between 1 and 64/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
