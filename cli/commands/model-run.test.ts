import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main, type CliIO } from '../main';
import { tinyConfigJson } from '../../src/core/lm/config';
import { checkpointFromSafetensors } from '../../src/core/lm/checkpoint';
import { referenceForward } from '../../src/core/lm/reference';
import { writeNpy } from '../../src/core/formats/npy';
import { writeSafetensors } from '../../src/core/formats/safetensors';
import { writePt } from '../../src/core/formats/pt';
import { tensorFromF32 } from '../../src/core/tensor';

function capture(): CliIO & { outs: string[]; errs: string[] } {
  const outs: string[] = [], errs: string[] = [];
  return { outs, errs, out: (t) => outs.push(t), err: (t) => errs.push(t) };
}

const L = 3, D = 64;
const IDS = [5, 17, 200, 3, 9];
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ps-model-run-'));
const cfgJson = tinyConfigJson('qwen3', { num_hidden_layers: L });
let modelDir = '';
let base: { logits: number[][]; resid_post: number[][][] };

async function runJson(args: string[]): Promise<typeof base & Record<string, unknown>> {
  const io = capture();
  const code = await main(['model', 'run', modelDir, '--ids', IDS.join(','), ...args, '--json'], io);
  expect(io.errs).toEqual([]);
  expect(code).toBe(0);
  return JSON.parse(io.outs[0]);
}

function rand(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5);
}
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((acc, x, i) => acc + x * b[i], 0);
const unit = (v: Float32Array) => Array.from(v, (x) => x / Math.sqrt(dot(v, v)));

beforeAll(async () => {
  // H3's commands make the model folder: a seeded random checkpoint, then a genai-style build.
  const cfgPath = path.join(tmp, 'config.json');
  await fs.writeFile(cfgPath, JSON.stringify(cfgJson));
  const ck = path.join(tmp, 'ck');
  expect(await main(['model', 'random', '--config', cfgPath, '--out', ck, '--seed', '9'], capture())).toBe(0);
  modelDir = path.join(tmp, 'model');
  expect(await main(['model', 'build', ck, '--out', modelDir, '--style', 'genai', '--dtype', 'fp32'], capture())).toBe(0);
  base = await runJson([]);
});
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

describe('persona-space model run', () => {
  it('prints logits per position and resid_post per layer and position, equal to the reference forward pass', async () => {
    expect(base.logits).toHaveLength(IDS.length);
    expect(base.logits[0]).toHaveLength(cfgJson.vocab_size as number);
    expect(base.resid_post).toHaveLength(L);
    expect(base.resid_post[0]).toHaveLength(IDS.length);
    expect(base.resid_post[0][0]).toHaveLength(D);
    const ck = checkpointFromSafetensors(cfgJson, [{ name: 'model.safetensors', bytes: new Uint8Array(await fs.readFile(path.join(tmp, 'ck', 'model.safetensors'))) }]);
    const ref = referenceForward(ck.config, ck, IDS);
    let m = 0;
    base.logits.flat().forEach((x, i) => (m = Math.max(m, Math.abs(x - ref.logits[i]))));
    expect(m).toBeLessThan(1e-4);
    for (let l = 0; l < L; l++) {
      base.resid_post[l].flat().forEach((x, i) => expect(Math.abs(x - ref.residPost[l][i])).toBeLessThan(1e-4));
    }
  });

  it('--steer FILE.npy (d,) moves resid_post at the steer layers by alpha v/|v|', async () => {
    const v = rand(D, 3);
    const file = path.join(tmp, 'steer.npy');
    await fs.writeFile(file, writeNpy(tensorFromF32(v, [D])));
    const r = await runJson(['--steer', file, '--steer-layers', '1', '--alpha', '-3']);
    const u = unit(v);
    for (let s = 0; s < IDS.length; s++) {
      expect(r.resid_post[0][s]).toEqual(base.resid_post[0][s]);
      r.resid_post[1][s].forEach((x, j) => expect(Math.abs(x - base.resid_post[1][s][j] - -3 * u[j])).toBeLessThan(1e-5));
    }
  });

  it('--cap FILE.safetensors (n_layers, d) with --tau-file floors h . v/|v| at the cap layers', async () => {
    const axes = rand(L * D, 4);
    const file = path.join(tmp, 'axis.safetensors');
    await fs.writeFile(file, writeSafetensors({ axis: tensorFromF32(axes, [L, D]) }));
    const rows = [0, 1, 2].map((l) => unit(axes.subarray(l * D, (l + 1) * D)));
    // per model layer; the thresholds at 1 and 2 lie inside the observed projections, so some positions move
    const taus = [0, 1, 2].map((l) => {
      const ps = base.resid_post[l].map((h) => dot(h, rows[l])).sort((a, b) => a - b);
      return ps[Math.floor(ps.length / 2)] + 1e-3; // not exactly on a sample: float32 rounding decides those
    });
    const tauFile = path.join(tmp, 'tau.npy');
    await fs.writeFile(tauFile, writeNpy(tensorFromF32(Float32Array.from(taus), [L])));
    const r = await runJson(['--cap', file, '--cap-layers', '1,2', '--tau-file', tauFile]);
    for (const l of [1, 2]) for (let s = 0; s < IDS.length; s++) expect(dot(r.resid_post[l][s], rows[l])).toBeGreaterThanOrEqual(taus[l] - 1e-5);
    expect(r.resid_post[0]).toEqual(base.resid_post[0]);
    for (let s = 0; s < IDS.length; s++) {
      if (dot(base.resid_post[1][s], rows[1]) > taus[1] + 1e-4) expect(r.resid_post[1][s]).toEqual(base.resid_post[1][s]);
    }
    expect(r.logits).not.toEqual(base.logits);
  });

  it('--capping-config applies a release experiment: ceilings along role-play vectors become floors along the axis', async () => {
    const r2 = rand(D, 6);
    const a = unit(r2).map((x) => -x);
    const ps = base.resid_post[2].map((h) => dot(h, a)).sort((x, y) => x - y);
    const tau = ps[Math.floor(ps.length / 2)] + 1e-3;
    const file = path.join(tmp, 'capping_config.pt');
    await fs.writeFile(file, writePt({
      vectors: { 'layer_2/pc': { vector: tensorFromF32(r2, [D]), layer: 2 } },
      experiments: [{ id: 'layers_2:3-p0.5', interventions: [{ vector: 'layer_2/pc', cap: -tau }] }],
    }));
    const r = await runJson(['--capping-config', file, '--experiment', 'layers_2:3-p0.5']);
    expect(r.cap_layers).toEqual([2]);
    for (let s = 0; s < IDS.length; s++) expect(dot(r.resid_post[2][s], a)).toBeGreaterThanOrEqual(tau - 1e-5);
    expect(r.resid_post[2]).not.toEqual(base.resid_post[2]);
    const io = capture();
    expect(await main(['model', 'run', modelDir, '--ids', '1', '--capping-config', file], io)).toBe(2);
    expect(io.errs[0]).toMatch(/--experiment \(one of: layers_2:3-p0\.5\)/);
  });

  it('reads a model whose weights are in model.onnx_data beside it (and picks the model by --dtype)', async () => {
    const dir = path.join(tmp, 'model-ext');
    expect(await main(['model', 'build', path.join(tmp, 'ck'), '--out', dir, '--style', 'optimum', '--dtype', 'fp32', '--external-data'], capture())).toBe(0);
    expect(await main(['model', 'build', path.join(tmp, 'ck'), '--out', dir, '--style', 'optimum', '--dtype', 'q4'], capture())).toBe(0);
    const names = (await fs.readdir(path.join(dir, 'onnx'))).sort();
    expect(names).toEqual(['model.onnx', 'model.onnx_data', 'model_q4.onnx']);
    const io = capture();
    expect(await main(['model', 'run', dir, '--ids', IDS.join(','), '--dtype', 'fp32', '--json'], io)).toBe(0);
    const r = JSON.parse(io.outs[0]);
    expect(r.style).toBe('optimum');
    let m = 0;
    r.logits.flat().forEach((x: number, i: number) => (m = Math.max(m, Math.abs(x - base.logits.flat()[i]))));
    expect(m).toBeLessThan(1e-4); // same checkpoint, the other export style
    const q4 = capture();
    expect(await main(['model', 'run', dir, '--ids', '1,2', '--dtype', 'q4', '--json'], q4)).toBe(0);
    expect(JSON.parse(q4.outs[0]).model).toMatch(/model_q4\.onnx$/);
    const both = capture();
    expect(await main(['model', 'run', dir, '--ids', '1,2'], both)).toBe(0); // several models: model.onnx (fp32) is the default
  });

  it('without --json prints a human summary', async () => {
    const io = capture();
    expect(await main(['model', 'run', modelDir, '--ids', '1,2'], io)).toBe(0);
    expect(io.outs.join('\n')).toMatch(/genai export, 3 layers, d = 64/);
  });

  it('bad input: one clear line and a non-zero exit', async () => {
    const v = path.join(tmp, 'steer.npy');
    const cases: [string[], RegExp, number][] = [
      [['--ids', '1,2', '--steer', v, '--steer-layers', '7', '--alpha', '1'], /Layer 7 does not exist: this model has layers 0 to 2/, 1],
      [['--ids', '1,2', '--steer', v, '--steer-layers', '1'], /--alpha/, 2],
      [['--ids', '1,999'], /outside the model's vocabulary of 256/, 1],
      [['--ids', '1,2', '--dtype', 'q4'], /has no model_q4\.onnx/, 1],
      [['--ids', '1,2', '--cap', v, '--cap-layers', '1'], /exactly one of --tau/, 2],
      [[], /--ids/, 2],
    ];
    for (const [args, msg, code] of cases) {
      const io = capture();
      expect(await main(['model', 'run', modelDir, ...args], io)).toBe(code);
      expect(io.errs).toHaveLength(1);
      expect(io.errs[0]).toMatch(msg);
    }
    const wrongDim = path.join(tmp, 'wrong.npy');
    await fs.writeFile(wrongDim, writeNpy(tensorFromF32(rand(10, 1), [10])));
    const io = capture();
    expect(await main(['model', 'run', modelDir, '--ids', '1', '--steer', wrongDim, '--steer-layers', '0', '--alpha', '1'], io)).toBe(1);
    expect(io.errs[0]).toMatch(/shape \[10\]; this model needs \(64,\) or \(3, 64\)/);
  });

  it('refuses external data that leaves the model folder (../../x, absolute, drive paths) before reading it: one line, exit 1', async () => {
    const { buildDecoder } = await import('../../src/core/lm/builder');
    const { randomCheckpoint } = await import('../../src/core/lm/checkpoint');
    const { decodeModel, encodeModel } = await import('../../src/core/onnx/proto');
    const built = buildDecoder(randomCheckpoint(cfgJson, { seed: 2 }), { style: 'optimum', dtype: 'fp32', externalData: true });
    // the file a traversal would reach exists and holds exactly the weights: only the refusal stops it
    await fs.writeFile(path.join(tmp, 'secret.bin'), built.externalData!);
    for (const loc of ['../../secret.bin', path.join(tmp, 'secret.bin'), 'C:\\secret.bin', 'sub/model.onnx_data']) {
      const m = decodeModel(built.onnx);
      for (const t of m.graph.initializer) for (const kv of t.external_data ?? []) if (kv.key === 'location') kv.value = loc;
      const dir = path.join(tmp, 'evil', 'm');
      await fs.mkdir(path.join(dir, 'onnx'), { recursive: true });
      await fs.writeFile(path.join(dir, 'onnx', 'model.onnx'), encodeModel(m));
      await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(cfgJson));
      const io = capture();
      expect(await main(['model', 'run', dir, '--ids', '1,2', '--json'], io)).toBe(1);
      expect(io.outs).toEqual([]);
      expect(io.errs).toHaveLength(1);
      expect(io.errs[0]).toContain(`external data "${loc}" outside its folder`);
    }
  });

  it("onnxruntime's own coloured log lines never reach the terminal: a failing run is one line of ours", async () => {
    const { spawnSync } = await import('node:child_process');
    // config.json claims a larger vocabulary than the graph's embedding holds: onnxruntime's Gather fails
    const dir = path.join(tmp, 'lying');
    await fs.mkdir(path.join(dir, 'onnx'), { recursive: true });
    await fs.copyFile(path.join(modelDir, 'onnx', 'model.onnx'), path.join(dir, 'onnx', 'model.onnx'));
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ ...cfgJson, vocab_size: 100000 }));
    const r = spawnSync(process.execPath, [path.resolve('cli/bin.mjs'), 'model', 'run', dir, '--ids', '1,99999'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^npm warn/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^persona-space model: onnxruntime could not run the model: /);
    expect(r.stderr.includes('\u001b[')).toBe(false);
    expect(r.stderr).not.toMatch(/\[E:onnxruntime/);
  });
});
