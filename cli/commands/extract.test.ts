import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../main';
import { readPt } from '../../src/core/formats/pt';
import { PyDict } from '../../src/core/formats/py';
import { buildDecoder } from '../../src/core/lm/builder';
import { randomCheckpoint, type Checkpoint } from '../../src/core/lm/checkpoint';
import { parseConfig, type DecoderConfig } from '../../src/core/lm/config';
import { syntheticConfig } from '../../src/core/lm/model-source';
import { referenceForward } from '../../src/core/lm/reference';
import { syntheticTokenizerFiles } from '../../src/core/lm/tokenizer';
import { decodeF32, type RawTensor } from '../../src/core/tensor';
import { HAVE_PAPER_DATA, PAPER_DATA_DIR } from '../../src/core/extract/extract.testkit';
import { loadPersonaSetFromPath } from '../fs-source';

function capture(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

interface Line { role: string; kind: string; prompt_index: number; question_id: number; ids: number[]; response: [number, number]; text: string }
const lines = (out: string): Line[] => readFileSync(path.join(out, 'rollouts.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const vec = (file: string): Float32Array => {
  const v = readPt(readFileSync(file));
  return decodeF32((v instanceof PyDict ? v.get('vector') : v) as RawTensor);
};

describe.skipIf(!HAVE_PAPER_DATA)('persona-space extract (needs ../shared/datasets/assistant-axis-data)', () => {
  let dir: string;
  let model: string;
  let config: DecoderConfig;
  let ck: Checkpoint;
  const roles = ['pirate', 'ghost', 'tutor'];
  const argv = (out: string, seed = '3') => ['extract', model, '--roles', roles.join(','), '--prompts', '1', '--questions', '2', '--max-tokens', '4', '--batch', '2', '--seed', seed, '--data', PAPER_DATA_DIR, '--out', out, '--json'];

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ps-extract-'));
    model = path.join(dir, 'model');
    mkdirSync(path.join(model, 'onnx'), { recursive: true });
    const cj = syntheticConfig({ hidden_size: 32, intermediate_size: 64, head_dim: 8 });
    config = parseConfig(cj);
    ck = randomCheckpoint(config, { seed: 4 });
    const built = buildDecoder(ck, { style: 'genai', dtype: 'fp32' });
    writeFileSync(path.join(model, 'onnx', built.fileName), built.onnx);
    writeFileSync(path.join(model, 'config.json'), JSON.stringify(cj));
    const tok = syntheticTokenizerFiles();
    writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tok.tokenizerJSON));
    writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the release layout, rollouts.jsonl and extraction.json; every role vector is recomputed from rollouts.jsonl by an independent forward (1e-4)', async () => {
    const out = path.join(dir, 'run1');
    const io = capture();
    expect(await main(argv(out), io)).toBe(0);
    const summary = JSON.parse(io.stdout.join(''));
    expect(summary.status).toBe('complete');
    expect(summary.counts).toMatchObject({ rollouts: 3 * 2 + 2, generated: 8, resumed: 0, roles: 3, default: 2 });
    expect(summary.credit).toMatch(/safety-research\/assistant-axis, MIT/);
    expect(io.stderr.join('\n')).toMatch(/extract: 8\/8 rollouts/);
    for (const f of ['role_vectors/pirate.pt', 'default_vector.pt', 'assistant_axis.pt', 'persona_space.safetensors', 'calibration.json', 'extraction.json']) expect(existsSync(path.join(out, f))).toBe(true);
    const meta = JSON.parse(readFileSync(path.join(out, 'extraction.json'), 'utf8'));
    expect(meta.model.numLayers).toBe(4);
    expect(meta.settings.roles).toEqual(roles);
    expect(meta.counts.rollouts).toBe(8);
    expect(typeof meta.seconds).toBe('number');
    const pirate = readPt(readFileSync(path.join(out, 'role_vectors/pirate.pt'))) as PyDict;
    expect(pirate.get('type')).toBe('mean');
    expect(pirate.get('role')).toBe('pirate');
    expect((pirate.get('vector') as RawTensor).shape).toEqual([4, 32]);

    const L = config.numLayers;
    const d = config.hiddenSize;
    const rs = lines(out);
    expect(rs).toHaveLength(8);
    const sums = new Map<string, { s: Float64Array; n: number }>();
    for (const r of rs) {
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['role', 'prompt_index', 'question_id', 'ids', 'response', 'text']));
      const [s, e] = r.response;
      const ref = referenceForward(config, ck, r.ids.slice(0, e));
      const acc = sums.get(r.role) ?? { s: new Float64Array(L * d), n: 0 };
      for (let l = 0; l < L; l++) for (let p = s; p < e; p++) for (let j = 0; j < d; j++) acc.s[l * d + j] += ref.residPost[l][p * d + j] / (e - s);
      acc.n++;
      sums.set(r.role, acc);
    }
    const mean = (k: string) => sums.get(k)!.s.map((v) => v / sums.get(k)!.n);
    for (const role of roles) {
      const got = vec(path.join(out, `role_vectors/${role}.pt`));
      const want = mean(role);
      expect(Math.max(...got.map((v, i) => Math.abs(v - want[i])))).toBeLessThan(1e-4);
    }
    const def = vec(path.join(out, 'default_vector.pt'));
    const axis = vec(path.join(out, 'assistant_axis.pt'));
    const rv = roles.map((r) => vec(path.join(out, `role_vectors/${r}.pt`)));
    expect(Array.from(axis)).toEqual(Array.from(def.map((v, i) => v - rv.reduce((a, x) => a + x[i], 0) / 3)));
    // The result reads back as a release-layout PersonaSet, and `pca` reads it.
    const set = await loadPersonaSetFromPath(out);
    expect(set.format).toBe('release');
    expect([...set.names].sort()).toEqual([...roles].sort());
    expect(set.layers).toBe(4);
    const pio = capture();
    expect(await main(['pca', out, '--json'], pio)).toBe(0);
    const pca = JSON.parse(pio.stdout.join(''));
    expect(pca.layer).toBe(2);
  });

  it('a run killed midway (torn last line) and started again regenerates nothing finished and ends with the same vectors', async () => {
    const whole = path.join(dir, 'whole');
    expect(await main(argv(whole), capture())).toBe(0);
    const cut = path.join(dir, 'cut');
    expect(await main(argv(cut), capture())).toBe(0);
    // Keep 3 whole lines and half of the 4th, as a process killed while writing would.
    const text = readFileSync(path.join(cut, 'rollouts.jsonl'), 'utf8').split('\n');
    writeFileSync(path.join(cut, 'rollouts.jsonl'), text.slice(0, 3).join('\n') + '\n' + text[3].slice(0, 20));
    rmSync(path.join(cut, 'role_vectors'), { recursive: true });
    const io = capture();
    expect(await main(argv(cut), io)).toBe(0);
    const s = JSON.parse(io.stdout.join(''));
    expect(s.counts.resumed).toBe(3);
    expect(s.counts.generated).toBe(5);
    const a = lines(whole);
    const b = lines(cut);
    expect(b.map((r) => r.ids)).toEqual(a.map((r) => r.ids));
    for (const role of roles) expect(Array.from(vec(path.join(cut, `role_vectors/${role}.pt`)))).toEqual(Array.from(vec(path.join(whole, `role_vectors/${role}.pt`))));
    // A third run has nothing left to do.
    const io3 = capture();
    expect(await main(argv(cut), io3)).toBe(0);
    expect(JSON.parse(io3.stdout.join('')).counts.generated).toBe(0);
  });

  it('a process killed (SIGKILL) mid-run loses only the batch in flight; the restart regenerates nothing finished and ends as an uninterrupted run', async () => {
    const whole = path.join(dir, 'whole-k');
    const killed = path.join(dir, 'killed');
    const args = (out: string) => ['extract', model, '--roles', roles.join(','), '--prompts', '2', '--questions', '2', '--max-tokens', '24', '--batch', '1', '--seed', '5', '--data', PAPER_DATA_DIR, '--out', out, '--json'];
    expect(await main(args(whole), capture())).toBe(0);
    const bin = path.resolve(__dirname, '../bin.mjs');
    const child = spawn(process.execPath, [bin, ...args(killed)], { stdio: 'ignore' });
    const file = path.join(killed, 'rollouts.jsonl');
    const count = () => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0);
    const t0 = Date.now();
    while (count() < 3 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const kept = lines(killed).length;
    expect(kept).toBeGreaterThanOrEqual(3);
    expect(kept).toBeLessThan(16);
    const io = capture();
    expect(await main(args(killed), io)).toBe(0);
    const s = JSON.parse(io.stdout.join(''));
    expect(s.counts.resumed).toBe(kept);
    expect(s.counts.generated).toBe(16 - kept);
    expect(lines(killed).map((r) => r.ids)).toEqual(lines(whole).map((r) => r.ids));
    for (const role of roles) expect(Array.from(vec(path.join(killed, `role_vectors/${role}.pt`)))).toEqual(Array.from(vec(path.join(whole, `role_vectors/${role}.pt`))));
    expect(Array.from(vec(path.join(killed, 'assistant_axis.pt')))).toEqual(Array.from(vec(path.join(whole, 'assistant_axis.pt'))));
  }, 120_000);

  it('bad input: unknown role, other settings on resume, no chat template, unreachable data — one sentence each', async () => {
    const io = capture();
    expect(await main(['extract', model, '--roles', 'pirate,wizard', '--data', PAPER_DATA_DIR, '--out', path.join(dir, 'bad')], io)).toBe(1);
    expect(io.stderr.join('')).toMatch(/"wizard" is not one of the paper's 275 roles\./);
    const out = path.join(dir, 'run1');
    const io2 = capture();
    expect(await main(argv(out, '9'), io2)).toBe(1);
    expect(io2.stderr.join('')).toMatch(/holds a run with seed = 3, not 9/);
    const noTpl = path.join(dir, 'no-template');
    mkdirSync(path.join(noTpl, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) writeFileSync(path.join(noTpl, f), readFileSync(path.join(model, f)));
    const cfg = JSON.parse(readFileSync(path.join(model, 'tokenizer_config.json'), 'utf8'));
    delete cfg.chat_template;
    writeFileSync(path.join(noTpl, 'tokenizer_config.json'), JSON.stringify(cfg));
    const io3 = capture();
    expect(await main(['extract', noTpl, '--roles', 'pirate', '--data', PAPER_DATA_DIR, '--out', path.join(dir, 'x')], io3)).toBe(1);
    expect(io3.stderr.join('')).toMatch(/has no chat template/);
    const io4 = capture();
    expect(await main(['extract', model, '--roles', 'pirate', '--data', 'http://127.0.0.1:9', '--out', path.join(dir, 'y')], io4)).toBe(1);
    expect(io4.stderr.join('')).toMatch(/could not be fetched .* no copy is cached/);
    const io5 = capture();
    expect(await main(['extract', model, '--preset', 'quick'], io5)).toBe(2);
    expect(io5.stderr.join('')).toMatch(/--out DIR is required/);
  });
});
