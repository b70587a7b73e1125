/**
 * The CLI's shared helpers: sources (cli/fs-source.ts), vector files (cli/vector-files.ts), model
 * folders (cli/model-folder.ts) and model flags (cli/model-flags.ts) — and that one flag means
 * the same thing in chat, generate and extract.
 */
import { mkdtempSync, mkdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from './args';
import { cliPersonaSource, extractionFiles, loadCliSource } from './fs-source';
import { main, type CliIO } from './main';
import { capFlags, layerWindowFlag, samplingFlags, GREEDY, steerFlags } from './model-flags';
import { chooseModelFile, parseModelSpec } from './model-folder';
import { MAX_VECTOR_FILE_BYTES, readVectorFile, vectorOutPath, writeVectorFile } from './vector-files';
import { writeNpy } from '../src/core/formats/npy';
import { writePt } from '../src/core/formats/pt';
import { decodeF32, tensorFromF32 } from '../src/core/tensor';

function capture(): CliIO & { outs: string[]; errs: string[] } {
  const outs: string[] = [];
  const errs: string[] = [];
  return { outs, errs, out: (t) => outs.push(t), err: (t) => errs.push(t) };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ps-helpers-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const vec = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

describe('sources: one rule for every persona command', () => {
  it('a path is files (with the names file convert wrote), other text is a URL, release, synthetic or extraction source', async () => {
    const npy = path.join(tmp, 'arr.npy');
    writeFileSync(npy, writeNpy(tensorFromF32(vec(12, (i) => i), [3, 4])));
    writeFileSync(path.join(tmp, 'arr.names.json'), JSON.stringify(['a', '__proto__', 'c']));
    const files = await cliPersonaSource(npy);
    expect(files.kind).toBe('files');
    if (files.kind === 'files') expect(files.files.map((f) => f.path).sort()).toEqual(['arr.names.json', 'arr.npy']);
    expect(await cliPersonaSource('https://example.org/x.pt')).toEqual({ kind: 'url', url: 'https://example.org/x.pt' });
    expect(await cliPersonaSource('hf://datasets/a/b')).toEqual({ kind: 'url', url: 'hf://datasets/a/b' });
    expect(await cliPersonaSource('release:qwen-3-32b')).toEqual({ kind: 'release', modelId: 'qwen-3-32b' });
    expect(await cliPersonaSource('synthetic:20x3d8')).toEqual({ kind: 'synthetic', params: { n: 20, layers: 3, dim: 8 } });
    expect(await cliPersonaSource('extraction:run')).toEqual({ kind: 'extraction', runId: 'run' });
    const loaded = await loadCliSource(npy);
    expect(loaded.set.names).toEqual(['a', '__proto__', 'c']);
    expect(loaded.label).toBe('arr.npy');
  });

  it('pca and axis run on a synthetic source, no file needed; an absurd one is one sentence', async () => {
    const io = capture();
    expect(await main(['pca', 'synthetic:30x4d16', '--layer', '1', '--json'], io)).toBe(0);
    const r = JSON.parse(io.outs[0]);
    expect(Object.keys(r.coords)).toHaveLength(30);
    const io2 = capture();
    expect(await main(['axis', 'synthetic:30x100000', '--json'], io2)).toBe(1);
    expect(io2.errs[0]).toMatch(/A synthetic set takes .* 1 to 256 layers/);
  });

  it('an extract --out folder loads as its release-layout files only', async () => {
    const run = path.join(tmp, 'run');
    mkdirSync(path.join(run, 'role_vectors'), { recursive: true });
    for (const [n, k] of [['pirate', 1], ['ghost', 2], ['sage', 3]] as const) writeFileSync(path.join(run, 'role_vectors', `${n}.pt`), writePt(tensorFromF32(vec(4, (i) => k * (i + 1) + (k === 2 ? -i * i : 0)), [4])));
    writeFileSync(path.join(run, 'default_vector.pt'), writePt(tensorFromF32(vec(4, () => 9), [4])));
    writeFileSync(path.join(run, 'rollouts.jsonl'), '{"torn');
    writeFileSync(path.join(run, 'extraction.json'), '{}');
    expect((await extractionFiles(run)).map((f) => f.path).sort()).toEqual(['default_vector.pt', 'role_vectors/ghost.pt', 'role_vectors/pirate.pt', 'role_vectors/sage.pt']);
    const r = await loadCliSource(`extraction:${run}`);
    expect(r.label).toBe(`extraction ${run}`);
    expect([...r.set.names].sort()).toEqual(['ghost', 'pirate', 'sage']);
    expect(Array.from(r.set.defaultAt(0)!)).toEqual([9, 9, 9, 9]);
  });
});

describe('vector files: bounded reads, writes that read back', () => {
  it('writes .npy, .pt and .safetensors that read back as the same tensor', async () => {
    const t = tensorFromF32(vec(3 * 5, (i) => Math.sin(i)), [3, 5]);
    for (const ext of ['.npy', '.pt', '.safetensors']) {
      const f = path.join(tmp, `v${ext}`);
      await writeVectorFile(f, t, { name: 'axis', metadata: { hook: 'resid_post' } });
      const back = await readVectorFile(f, 'axis');
      expect(back.shape).toEqual([3, 5]);
      expect(Array.from(decodeF32(back))).toEqual(Array.from(decodeF32(t)));
    }
  });
  it('refuses an oversized file before reading it, a rank-3 tensor, and an unknown extension, one sentence each', async () => {
    const big = path.join(tmp, 'big.npy');
    writeFileSync(big, '');
    truncateSync(big, MAX_VECTOR_FILE_BYTES + 1); // sparse: nothing is allocated unless it is read
    await expect(readVectorFile(big, 'steering')).rejects.toThrow(/is 512 MiB; a steering file holds at most 512 MiB/);
    const r3 = path.join(tmp, 'r3.npy');
    writeFileSync(r3, writeNpy(tensorFromF32(vec(8, (i) => i), [2, 2, 2])));
    await expect(readVectorFile(r3, 'capping')).rejects.toThrow(/shape \(2, 2, 2\); the capping file must hold one \(d,\) or \(n_layers, d\) tensor/);
    expect(() => vectorOutPath('axis.csv')).toThrow(/--out must end in \.safetensors, \.npy, \.pt/);
  });
});

describe('model folders: one rule for which weights a command runs', () => {
  const folder = (names: string[]) => {
    const dir = mkdtempSync(path.join(tmp, 'm-'));
    mkdirSync(path.join(dir, 'onnx'));
    for (const n of names) writeFileSync(path.join(dir, 'onnx', n), 'x');
    return dir;
  };
  it('fp32 first, then the smaller files; --dtype and --onnx choose; external data comes along', async () => {
    expect((await chooseModelFile(folder(['model.onnx', 'model_q4.onnx', 'model_quantized.onnx']))).onnxFile).toBe('onnx/model.onnx');
    expect((await chooseModelFile(folder(['model_q4.onnx', 'model_quantized.onnx']))).onnxFile).toBe('onnx/model_q4.onnx');
    const ext = await chooseModelFile(folder(['model.onnx', 'model.onnx_data', 'model_int8.onnx']));
    expect(ext.externalData).toEqual(['onnx/model.onnx_data']);
    const dir = folder(['model.onnx', 'model_int8.onnx', 'decoder_model_merged_q4.onnx']);
    expect((await chooseModelFile(dir, { dtype: 'int8' })).onnxFile).toBe('onnx/model_int8.onnx');
    expect((await chooseModelFile(dir, { dtype: 'q4' })).onnxFile).toBe('onnx/decoder_model_merged_q4.onnx');
    expect((await chooseModelFile(dir, { onnx: 'onnx/model_int8.onnx' })).dtype).toBe('int8');
  });
  it('refuses what is not there and paths out of the folder, one sentence each', async () => {
    const dir = folder(['model.onnx']);
    await expect(chooseModelFile(dir, { dtype: 'q4' })).rejects.toThrow(/has no model_q4\.onnx \(found: model\.onnx\)/);
    await expect(chooseModelFile(dir, { onnx: '../../etc/passwd' })).rejects.toThrow(/--onnx names a file inside the model folder/);
    await expect(chooseModelFile(tmp)).rejects.toThrow(/has no onnx\/ folder/);
  });
  it('the model argument: a folder, an .onnx file, hf:owner/name[@rev], synthetic[:seed]', () => {
    expect(parseModelSpec('models/qwen')).toEqual({ kind: 'folder', dir: 'models/qwen' });
    expect(parseModelSpec('x/model.onnx')).toEqual({ kind: 'onnx-file', file: 'x/model.onnx' });
    expect(parseModelSpec('hf:onnx-community/Qwen3-0.6B-ONNX@main')).toEqual({ kind: 'hub', repo: 'onnx-community/Qwen3-0.6B-ONNX', revision: 'main' });
    expect(parseModelSpec('synthetic:7')).toEqual({ kind: 'synthetic', seed: 7 });
    expect(() => parseModelSpec('hf:nope')).toThrow(/write hf:owner\/name/);
  });
});

describe('steer / cap flags', () => {
  const args = (s: string) => parseArgs(s.split(' '));
  it('a layer window is a list, an inclusive range, or both', () => {
    expect(layerWindowFlag(args('--cap-layers 3,4'), 'cap-layers')).toEqual([3, 4]);
    expect(layerWindowFlag(args('--cap-layers 10-13'), 'cap-layers')).toEqual([10, 11, 12, 13]);
    expect(layerWindowFlag(args('--cap-layers 2,10-11,2'), 'cap-layers')).toEqual([2, 10, 11]);
    expect(() => layerWindowFlag(args('--cap-layers 5-3'), 'cap-layers')).toThrow(/ends before it starts/);
    expect(() => layerWindowFlag(args('--cap-layers -1'), 'cap-layers')).toThrow(/0-based layers/);
    expect(() => layerWindowFlag(args('--cap-layers 0-100000'), 'cap-layers')).toThrow(/wider than any model/);
  });
  it('steer and cap read the same vector file the same way; tau fixed, per layer, or a calibration percentile', async () => {
    const v = path.join(tmp, 'dir.npy');
    writeFileSync(v, writeNpy(tensorFromF32(vec(4 * 8, (i) => i % 7), [4, 8])));
    const s = await steerFlags(args(`--steer ${v} --steer-layers 1-2 --alpha 3`));
    const c = await capFlags(args(`--cap ${v} --cap-layers 1-2 --tau 0.5`));
    expect(s!.layers).toEqual([1, 2]);
    expect(c!.layers).toEqual([1, 2]);
    expect(s!.vector).toEqual(c!.vector);
    const cal = path.join(tmp, 'calibration.json');
    writeFileSync(cal, JSON.stringify({ format: 'persona-space-calibration', numLayers: 4, levels: [0, 50, 100], all: { percentiles: [[0, 1, 2], [0, 2, 4], [0, 3, 6], [0, 4, 8]] } }));
    const p = await capFlags(args(`--cap ${v} --cap-layers 1-2 --percentile 25 --calibration ${cal}`));
    expect(p!.tau).toEqual([1, 1.5]);
    await expect(capFlags(args(`--cap ${v} --cap-layers 1 --percentile 150 --calibration ${cal}`))).rejects.toThrow(/--percentile must be between 0 and 100/);
    await expect(capFlags(args(`--cap ${v} --cap-layers 1 --tau 1 --percentile 25 --calibration ${cal}`))).rejects.toThrow(/exactly one of/);
  });
  it('sampling flags: one set of bounds, the command\'s own defaults', () => {
    expect(samplingFlags(args('--top-k 5'), GREEDY)).toEqual({ ...GREEDY, topK: 5 });
    for (const [a, msg] of [['--max-tokens 0', /--max-tokens must be between 1 and 8192/], ['--temperature -1', /--temperature must be between 0/], ['--top-p 2', /--top-p must be above 0/], ['--seed -3', /--seed must be a whole number/]] as const) {
      expect(() => samplingFlags(args(a), GREEDY)).toThrow(msg);
    }
  });
});

describe('the same flag means the same thing in chat, generate and extract', () => {
  let v: string;
  beforeAll(() => {
    v = path.join(tmp, 'steer64.npy');
    writeFileSync(v, writeNpy(tensorFromF32(vec(4 * 64, (i) => Math.sin(i * 0.37)), [4, 64])));
  });
  const commands = (extra: string[]) => [
    ['chat', 'synthetic', '--axis', v, '--layer', '1', '--prompt', 'hi', ...extra],
    ['generate', 'synthetic', '--prompt', 'hi', ...extra],
    ['extract', 'synthetic', '--out', path.join(tmp, 'never'), '--roles', 'pirate', ...extra],
  ];
  it('bad values are refused with the same sentence and exit 2 by every command', async () => {
    for (const [flag, msg] of [
      [['--max-tokens', '0'], /--max-tokens must be between 1 and 8192\./],
      [['--temperature', '9'], /--temperature must be between 0 \(greedy\) and 5\./],
      [['--top-p', '0'], /--top-p must be above 0 and at most 1\./],
      [['--seed', '-1'], /--seed must be a whole number from 0/],
      [['--dtype', 'q9'], /--dtype must be one of fp32, fp16, q8, int8, uint8, q4, q4f16, got "q9"\./],
    ] as const) {
      for (const argv of commands([...flag])) {
        const io = capture();
        expect(await main(argv, io), `${argv[0]} ${flag.join(' ')}`).toBe(2);
        expect(io.errs.join('\n')).toMatch(msg);
      }
    }
  });
  it('a misspelt flag is refused, not ignored, by every command (and by model run)', async () => {
    for (const argv of [...commands(['--steer-layer', '1']), ['model', 'run', 'synthetic', '--ids', '1', '--steer-layer', '1']]) {
      const io = capture();
      expect(await main(argv, io), argv[0]).toBe(2);
      expect(io.errs.join('\n')).toMatch(/Unknown option --steer-layer \(/);
    }
  });
  it('steering with a window 1-2 is steering at 1,2 in generate and in chat', async () => {
    const run = async (argv: string[]) => {
      const io = capture();
      expect(await main([...argv, '--json'], io)).toBe(0);
      return JSON.parse(io.outs[0]);
    };
    const steer = (w: string) => ['--steer', v, '--steer-layers', w, '--alpha', '4', '--max-tokens', '3'];
    const gRange = await run(['generate', 'synthetic', '--prompt', 'hi', '--axis', v, ...steer('1-2')]);
    const gList = await run(['generate', 'synthetic', '--prompt', 'hi', '--axis', v, ...steer('1,2')]);
    const gNone = await run(['generate', 'synthetic', '--prompt', 'hi', '--axis', v, '--max-tokens', '3']);
    expect(gRange).toMatchObject({ tokens: gList.tokens, projections: gList.projections });
    expect(gRange.projections).not.toEqual(gNone.projections);
    const cRange = await run(['chat', 'synthetic', '--axis', v, '--layer', '2', '--prompt', 'hi', ...steer('1-2')]);
    const cList = await run(['chat', 'synthetic', '--axis', v, '--layer', '2', '--prompt', 'hi', ...steer('1,2')]);
    expect(cRange.steer).toEqual({ layers: [1, 2], alpha: 4 });
    expect(cRange.messages).toEqual(cList.messages);
  });
});
