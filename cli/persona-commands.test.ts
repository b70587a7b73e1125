/**
 * The persona commands (inspect, pca, axis, compare, convert) run in-process through main() with a
 * capturing io, on the real dataset and on small synthetic sets written to a temp folder; one run
 * goes through the `bin` entry in a subprocess.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from './main';
import { readNpy, writeNpy } from '../src/core/formats/npy';
import { readSafetensors, writeSafetensors } from '../src/core/formats/safetensors';
import { writePt } from '../src/core/formats/pt';
import { hasRealData, LLAMA_L16, realDataReason } from '../src/core/formats/test-data';
import { decodeF32, f32ToBf16Bits, tensorFromF32, type RawTensor } from '../src/core/tensor';
import { createPersonaSet } from '../src/core/persona/persona-set';
import { assistantAxis, cosAxisPcPerLayer, pcaAtLayer } from '../src/core/persona/analysis';
import { cosine } from '../src/core/math/vector';
import { gaussian, rng } from '../src/core/math/testing';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (t) => (out += t.endsWith('\n') ? t : t + '\n'), err: (t) => (err += t.endsWith('\n') ? t : t + '\n') };
  const code = await main(argv, io);
  return { code, out, err };
}

async function cliJson(...argv: string[]): Promise<any> {
  const r = await cli(...argv, '--json');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.out);
}

/** A failure a user caused: non-zero exit, exactly one line on stderr, no stack frames. */
function expectOneLineError(r: { code: number; out: string; err: string }, pattern: RegExp) {
  expect(r.code).not.toBe(0);
  const lines = r.err.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.err).not.toMatch(/\n\s+at /);
}

// A synthetic multi-layer set: N roles x L layers x d, bf16, plus a default leaning along one direction.
const N = 12, L = 4, D = 16;
const g = gaussian(rng(42));
const names = Array.from({ length: N }, (_, i) => `role${i}`);
const dirs = Array.from({ length: 2 }, () => Float64Array.from({ length: L * D }, g));
const values = names.map(() => {
  const w = [3 * g(), g()];
  return Float32Array.from({ length: L * D }, (_, j) => w[0] * dirs[0][j] + w[1] * dirs[1][j] + 0.2 * g());
});
const defaultValues = Float32Array.from({ length: L * D }, (_, j) => 4 * dirs[0][j] + 0.3 * g());
function bf16(v: Float32Array, shape: number[]): RawTensor {
  const u = Uint16Array.from(v, (x) => f32ToBf16Bits(x));
  return { dtype: 'bfloat16', shape, data: new Uint8Array(u.buffer) };
}
/** The set as the CLI will see it (bf16-rounded values). */
const reference = createPersonaSet({
  names,
  vectors: names.map((_, i) => decodeF32(bf16(values[i], [L, D]))),
  dim: D,
  layers: L,
  default: decodeF32(bf16(defaultValues, [L, D])),
  format: 'test',
});

let tmp = '';
const f = (name: string) => path.join(tmp, name);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'persona-cli-'));
  const tensors: Record<string, RawTensor> = {};
  names.forEach((n, i) => (tensors[n] = bf16(values[i], [L, D])));
  tensors.default = bf16(defaultValues, [L, D]);
  writeFileSync(f('set.safetensors'), writeSafetensors(tensors));
  // The same members stacked (N, L, d) float32 in .npy, names in a text file, no default.
  const stacked = new Float32Array(N * L * D);
  names.forEach((_, i) => stacked.set(decodeF32(bf16(values[i], [L, D])), i * L * D));
  writeFileSync(f('stacked.npy'), writeNpy(tensorFromF32(stacked, [N, L, D])));
  writeFileSync(f('names.txt'), names.join('\n') + '\n');
  writeFileSync(f('garbage.pt'), new Uint8Array([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5]));
  // The official release layout: roles and traits as raw (L, d) bf16 tensors, default and axis beside them.
  mkdirSync(f('release/role_vectors'), { recursive: true });
  mkdirSync(f('release/trait_vectors'), { recursive: true });
  names.forEach((n, i) => writeFileSync(f(`release/role_vectors/${n}.pt`), writePt(bf16(values[i], [L, D]))));
  for (let t = 0; t < 3; t++) writeFileSync(f(`release/trait_vectors/trait${t}.pt`), writePt(bf16(values[(t * 5) % N].map((v) => -v), [L, D])));
  writeFileSync(f('release/default_vector.pt'), writePt(bf16(defaultValues, [L, D])));
  writeFileSync(f('release/assistant_axis.pt'), writePt(bf16(defaultValues, [L, D])));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('inspect', () => {
  it('reports format, count, names, layers, dim, dtype and default', async () => {
    const j = await cliJson('inspect', f('set.safetensors'));
    expect(j).toMatchObject({ format: 'safetensors', count: N, names, layers: L, dim: D, dtype: 'bfloat16', default: 'default' });
    const h = await cli('inspect', f('set.safetensors'));
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/12 vectors, 4 layers, 16 dims, bfloat16/);
  });

  it('reads an (N, L, d) array with --names and takes --default members out', async () => {
    const j = await cliJson('inspect', f('stacked.npy'), '--names', f('names.txt'), '--default', 'role0,role1');
    expect(j.count).toBe(N - 2);
    expect(j.names).not.toContain('role0');
    expect(j.layers).toBe(L);
    expect(j.default).toMatch(/role0/);
  });
});

describe('the release layout', () => {
  it('fits the roles only and projects the traits', async () => {
    const info = await cliJson('inspect', f('release'));
    expect(info).toMatchObject({ format: 'release', count: N + 3, layers: L, dim: D, kinds: { role: N, trait: 3 } });
    expect(info.stored_axis).toEqual([L, D]);
    const p = await cliJson('pca', f('release'), '--layer', '1');
    expect(p.n).toBe(N);
    expect(Object.keys(p.coords)).toHaveLength(N + 3);
    const ref = pcaAtLayer(reference, 1, { components: 3 });
    p.explained_variance_ratio.forEach((v: number, c: number) => expect(v).toBeCloseTo(ref.explainedVarianceRatio[c], 10));
    // trait0 = -role0, projected with the roles' mean: (-x - m).u = -(x - m).u - 2 m.u
    for (let c = 0; c < 3; c++) {
      let mu = 0;
      for (let j = 0; j < D; j++) mu += ref.mean[j] * ref.components[c * D + j];
      expect(p.coords.trait0[c]).toBeCloseTo(-p.coords.role0[c] - 2 * mu, 4);
    }
  });
});

describe('pca', () => {
  it('defaults to the middle layer and matches the core analysis', async () => {
    const j = await cliJson('pca', f('set.safetensors'));
    expect(j.layer).toBe(2);
    const p = pcaAtLayer(reference, 2, { components: 3 });
    expect(j.n).toBe(N);
    expect(j.dim).toBe(D);
    expect(j.explained_variance_ratio).toHaveLength(3);
    j.explained_variance_ratio.forEach((v: number, c: number) => expect(v).toBeCloseTo(p.explainedVarianceRatio[c], 10));
    j.cos_axis_pc.forEach((v: number, c: number) => expect(v).toBeCloseTo(p.cosAxisPc![c], 6));
    expect(j.axis_norm).toBeCloseTo(p.axisNorm, 5);
    expect(j.default_coords).toHaveLength(3);
    expect(j.default_coords[0]).toBeGreaterThan(0);
    expect(Object.keys(j.coords)).toEqual(names);
    names.forEach((n, i) => j.coords[n].forEach((v: number, c: number) => expect(v).toBeCloseTo(p.coords[i * 3 + c], 5)));
  });

  it('--layer and --components', async () => {
    const j = await cliJson('pca', f('set.safetensors'), '--layer', '0', '--components', '5');
    expect(j.layer).toBe(0);
    expect(j.explained_variance_ratio).toHaveLength(5);
    expect(j.coords.role3).toHaveLength(5);
    const h = await cli('pca', f('set.safetensors'), '--layer', '1');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/explained variance ratio: PC1 0\.\d{4}/);
    expect(h.out).toMatch(/cos\(axis, PC\): PC1 0\.\d{4}/);
  });

  it('without a default: no axis, null cos and default_coords', async () => {
    const j = await cliJson('pca', f('stacked.npy'), '--names', f('names.txt'), '--layer', '3');
    expect(j.layer).toBe(3);
    expect(j.axis_norm).toBeNull();
    expect(j.cos_axis_pc).toBeNull();
    expect(j.default_coords).toBeNull();
  });
});

describe('axis', () => {
  it('prints norm and cos(axis, PC1) per layer and writes (n_layers, d) as .npy and .safetensors', async () => {
    const ax = assistantAxis(reference);
    const rows = cosAxisPcPerLayer(reference, 1);
    const j = await cliJson('axis', f('set.safetensors'), '--out', f('axis.npy'));
    expect(j.layers).toBe(L);
    expect(j.norm).toHaveLength(L);
    j.norm.forEach((v: number, l: number) => expect(v).toBeCloseTo(ax.norms[l], 5));
    j.cos_pc1.forEach((v: number, l: number) => expect(v).toBeCloseTo(rows[l].cosAxisPc![0], 6));
    const npy = readNpy(new Uint8Array(readFileSync(f('axis.npy'))));
    expect(npy.shape).toEqual([L, D]);
    const fromNpy = decodeF32(npy);
    for (let i = 0; i < L * D; i++) expect(fromNpy[i]).toBeCloseTo(ax.axis[i], 5);

    expect((await cli('axis', f('set.safetensors'), '--out', f('axis.safetensors'))).code).toBe(0);
    const st = readSafetensors(new Uint8Array(readFileSync(f('axis.safetensors'))));
    const t = st.tensors instanceof Map ? st.tensors.get('axis')! : (st.tensors as Record<string, RawTensor>).axis;
    expect(t.shape).toEqual([L, D]);
    expect(cosine(decodeF32(t), ax.axis)).toBeCloseTo(1, 10);
  });

  it('needs a default vector', async () => {
    expectOneLineError(await cli('axis', f('stacked.npy'), '--names', f('names.txt')), /no default vector/);
  });
});

describe('compare', () => {
  it('a set against itself gives 1; signs follow each set\'s own default', async () => {
    const same = await cliJson('compare', f('set.safetensors'), f('set.safetensors'));
    expect(same.n_common).toBe(N);
    expect(same.pearson_pc1).toBeCloseTo(1, 10);
    expect(same.spearman_pc1).toBeCloseTo(1, 10);
    // B = the stacked copy with one member as its default: the most Assistant-like member keeps
    // PC1's orientation, the least one flips it.
    const p = pcaAtLayer(reference, 1, { components: 1 });
    const order = names.map((n, i) => ({ n, v: p.coords[i] })).sort((a, b) => b.v - a.v);
    const b = [f('stacked.npy'), '--names-b', f('names.txt'), '--layer-a', '1', '--layer-b', '1'];
    const hi = await cliJson('compare', f('set.safetensors'), ...b, '--default-b', order[0].n);
    expect(hi.n_common).toBe(N - 1);
    expect(hi.sign_aligned).toBe(false);
    expect(hi.pearson_pc1).toBeGreaterThan(0.9);
    expect(hi.spearman_pc1).toBeGreaterThan(0.8);
    const lo = await cliJson('compare', f('set.safetensors'), ...b, '--default-b', order[N - 1].n);
    expect(lo.pearson_pc1).toBeLessThan(-0.9);
    // Without a default in B, B's sign is aligned to A's.
    const none = await cliJson('compare', f('set.safetensors'), ...b);
    expect(none.sign_aligned).toBe(true);
    expect(none.pearson_pc1).toBeGreaterThan(0.9);
  });
});

describe('convert', () => {
  it('round-trips through .safetensors, .pt, .npy (+ names) and projector .tsv (+ metadata)', async () => {
    const before = pcaAtLayer(reference, 2, { components: 2 });
    for (const out of ['c.safetensors', 'c.pt', 'c.npy']) {
      const r = await cli('convert', f('set.safetensors'), '--out', f(out));
      expect(r.code, r.err).toBe(0);
      const src = out.endsWith('.npy') ? [f(out), '--names', f('c.names.json')] : [f(out)];
      const info = await cliJson('inspect', ...src);
      expect(info).toMatchObject({ count: N, layers: L, dim: D, default: 'default' });
      const p = await cliJson('pca', ...src, '--components', '2');
      p.explained_variance_ratio.forEach((v: number, c: number) => expect(v).toBeCloseTo(before.explainedVarianceRatio[c], 10));
      expect(p.cos_axis_pc[0]).toBeCloseTo(before.cosAxisPc![0], 6);
    }
    expect(readSafetensors(new Uint8Array(readFileSync(f('c.safetensors')))).tensors).toBeTruthy();
    const r = await cliJson('convert', f('set.safetensors'), '--out', f('c.tsv'), '--layer', '2');
    expect(r.out).toEqual([f('c.tsv'), f('c.metadata.tsv')]);
    const tsvLines = readFileSync(f('c.tsv'), 'utf8').trim().split('\n');
    expect(tsvLines).toHaveLength(N + 1);
    expect(tsvLines[0].split('\t')).toHaveLength(D);
    expect(readFileSync(f('c.metadata.tsv'), 'utf8').trim().split('\n')).toEqual([...names, 'default']);
    const p = await cliJson('pca', f('c.tsv'), '--names', f('c.metadata.tsv'), '--components', '2');
    p.explained_variance_ratio.forEach((v: number, c: number) => expect(v).toBeCloseTo(before.explainedVarianceRatio[c], 6));
  });
});

describe('bad input', () => {
  it('exits non-zero with one clear line and no stack trace', async () => {
    expectOneLineError(await cli('inspect', f('garbage.pt')), /^persona-space inspect: /);
    expectOneLineError(await cli('pca', f('missing.pt')), /does not exist/);
    expectOneLineError(await cli('pca', f('set.safetensors'), '--layer', '9'), /out of range/);
    expectOneLineError(await cli('pca', f('set.safetensors'), '--components', 'x'), /expects a number/);
    expectOneLineError(await cli('pca', f('set.safetensors'), '--colour', 'red'), /Unknown option --colour/);
    expectOneLineError(await cli('axis', f('set.safetensors'), '--out', f('axis.txt')), /--out must end in/);
    expectOneLineError(await cli('convert', f('set.safetensors')), /Give --out/);
    expectOneLineError(await cli('compare', f('set.safetensors')), /two sources/);
    expectOneLineError(await cli('inspect'), /Give a source/);
  });
});

describe('the bin entry', () => {
  it('runs `node cli/bin.mjs inspect` as a subprocess', async () => {
    const run = promisify(execFile);
    const bin = path.join(repoRoot, 'cli/bin.mjs');
    const [ok, bad] = await Promise.all([
      run(process.execPath, [bin, 'inspect', f('set.safetensors'), '--json'], { cwd: repoRoot }),
      run(process.execPath, [bin, 'inspect', f('garbage.pt')], { cwd: repoRoot }).catch((e) => e),
    ]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ count: N, layers: L, dim: D, default: 'default' });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});

describe.skipIf(!hasRealData)(`on the real llama-3.1-8b-L16 vectors (${realDataReason})`, () => {
  const src = path.join(LLAMA_L16, 'vectors');
  it('inspect and pca give the published figures', async () => {
    const info = await cliJson('inspect', src);
    expect(info).toMatchObject({ format: 'pt-folder', count: 275, layers: null, dim: 4096, dtype: 'bfloat16', default: 'default' });
    expect(info.names).toContain('ghost');
    const p = await cliJson('pca', src);
    expect(p.layer).toBeNull();
    expect(p.n).toBe(275);
    expect(p.explained_variance_ratio[0]).toBeCloseTo(0.27583, 5);
    expect(p.explained_variance_ratio[1]).toBeCloseTo(0.16833, 5);
    expect(p.explained_variance_ratio[2]).toBeCloseTo(0.07038, 5);
    expect(p.cos_axis_pc[0]).toBeCloseTo(0.81781, 5);
    expect(p.default_coords[0]).toBeGreaterThan(0);
    expect(Object.keys(p.coords)).toHaveLength(275);
    expect(p.coords.evaluator[0]).toBeGreaterThan(p.coords.toddler[0]);
  });
});
