import { afterAll, describe, expect, it } from 'vitest';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { main, type CliIO } from '../main';
import { tinyConfigJson } from '../../src/core/lm/config';
import { checkpointFromSafetensors, randomCheckpoint } from '../../src/core/lm/checkpoint';
import { referenceForward } from '../../src/core/lm/reference';
import { maxAbsDiff, step } from '../../src/core/lm/builder/ort-node.testkit';

function capture(): CliIO & { outs: string[]; errs: string[] } {
  const outs: string[] = [], errs: string[] = [];
  return { outs, errs, out: (t) => outs.push(t), err: (t) => errs.push(t) };
}

const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'ps-model-'));
afterAll(() => fs.rm(tmp, { recursive: true, force: true }));

describe('persona-space model', () => {
  it('random -> build -> onnxruntime-node gives the reference logits', async () => {
    const cfgJson = tinyConfigJson('llama', { num_hidden_layers: 2 });
    const cfgPath = path.join(tmp, 'llama.json');
    await fs.writeFile(cfgPath, JSON.stringify(cfgJson));
    const ckDir = path.join(tmp, 'ck');
    let io = capture();
    expect(await main(['model', 'random', '--config', cfgPath, '--out', ckDir, '--seed', '5', '--json'], io)).toBe(0);
    const rnd = JSON.parse(io.outs[0]);
    expect(rnd.files).toEqual(['model.safetensors']);
    await fs.writeFile(path.join(ckDir, 'tokenizer.json'), '{"model":{}}');

    const modelDir = path.join(tmp, 'm');
    io = capture();
    expect(await main(['model', 'build', ckDir, '--out', modelDir, '--style', 'optimum', '--dtype', 'fp32', '--json'], io)).toBe(0);
    const summary = JSON.parse(io.outs[0]);
    expect(summary.copied).toEqual(['config.json', 'tokenizer.json']);
    const onnx = await fs.readFile(path.join(modelDir, 'onnx', 'model.onnx'));
    expect(JSON.parse(await fs.readFile(path.join(modelDir, 'config.json'), 'utf8')).model_type).toBe('llama');

    // the checkpoint on disk holds what the seeded generator makes
    const ck = checkpointFromSafetensors(JSON.stringify(cfgJson), [{ name: 'model.safetensors', bytes: new Uint8Array(await fs.readFile(path.join(ckDir, 'model.safetensors'))) }]);
    const mem = randomCheckpoint(cfgJson, { seed: 5 });
    expect(Buffer.from(ck.tensor('model.layers.1.mlp.down_proj.weight').data).equals(Buffer.from(mem.tensor('model.layers.1.mlp.down_proj.weight').data))).toBe(true);

    const session = await ort.InferenceSession.create(onnx);
    const ids = [5, 6, 7, 8];
    const r = await step(session, ck.config, ids);
    expect(maxAbsDiff(r.logits, referenceForward(ck.config, ck, ids).logits)).toBeLessThan(1e-4);
  });

  it('sharded bf16 checkpoints build (genai q4, external data) and run', async () => {
    const cfgPath = path.join(tmp, 'qwen3.json');
    await fs.writeFile(cfgPath, JSON.stringify(tinyConfigJson('qwen3', { num_hidden_layers: 2, vocab_size: 512 })));
    const ckDir = path.join(tmp, 'ck-sharded');
    let io = capture();
    expect(await main(['model', 'random', '--config', cfgPath, '--out', ckDir, '--dtype', 'bfloat16', '--shard-mb', '0.02', '--json'], io)).toBe(0);
    const files: string[] = JSON.parse(io.outs[0]).files;
    expect(files.length).toBeGreaterThan(3);
    expect(files[0]).toMatch(/^model-00001-of-\d{5}\.safetensors$/);
    const index = JSON.parse(await fs.readFile(path.join(ckDir, 'model.safetensors.index.json'), 'utf8'));
    expect(new Set(Object.values(index.weight_map))).toEqual(new Set(files));
    const modelDir = path.join(tmp, 'm2');
    io = capture();
    expect(await main(['model', 'build', ckDir, '--out', modelDir, '--style', 'genai', '--dtype', 'q4', '--external-data', '--quantize-embeddings', '--json'], io)).toBe(0);
    const summary = JSON.parse(io.outs[0]);
    expect(summary.model.endsWith(path.join('onnx', 'model_q4.onnx'))).toBe(true);
    expect(summary.external_data.endsWith('model_q4.onnx_data')).toBe(true);
    const session = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model_q4.onnx'));
    const shards = await Promise.all(files.map(async (f) => ({ name: f, bytes: new Uint8Array(await fs.readFile(path.join(ckDir, f))) })));
    const ck = checkpointFromSafetensors(await fs.readFile(cfgPath, 'utf8'), shards);
    const cfg = ck.config;
    expect(ck.tensor('model.norm.weight').dtype).toBe('bfloat16');
    const r = await step(session, cfg, [1, 2, 3]);
    expect(r.logits.length).toBe(3 * 512);
    expect(r.logits.every(Number.isFinite)).toBe(true);
  });

  it('says clearly what is wrong with an unsupported model or a missing tensor', async () => {
    const bad = path.join(tmp, 'gpt2.json');
    await fs.writeFile(bad, JSON.stringify({ model_type: 'gpt2', hidden_size: 8 }));
    let io = capture();
    expect(await main(['model', 'random', '--config', bad, '--out', path.join(tmp, 'x')], io)).toBe(1);
    expect(io.errs[0]).toMatch(/Model type "gpt2" is not supported/);

    const ckDir = path.join(tmp, 'ck');
    const broken = path.join(tmp, 'ck-broken');
    await fs.mkdir(broken, { recursive: true });
    const cfg = JSON.parse(await fs.readFile(path.join(ckDir, 'config.json'), 'utf8'));
    cfg.num_hidden_layers = 3; // the shards only hold 2 layers
    await fs.writeFile(path.join(broken, 'config.json'), JSON.stringify(cfg));
    await fs.copyFile(path.join(ckDir, 'model.safetensors'), path.join(broken, 'model.safetensors'));
    io = capture();
    expect(await main(['model', 'build', broken, '--out', path.join(tmp, 'y')], io)).toBe(1);
    expect(io.errs[0]).toMatch(/no tensor "model\.layers\.2\.input_layernorm\.weight"/);

    io = capture();
    expect(await main(['model', 'build', ckDir], io)).toBe(2);
    expect(io.errs[0]).toMatch(/--out/);
  });

  it.each([
    [{ num_hidden_layers: 100000 }, /"num_hidden_layers" is 100000, more than the 1024/],
    [{ hidden_size: 1e9 }, /"hidden_size" is 1000000000, more than/],
    [{ vocab_size: 2 ** 31 }, /"vocab_size" is 2147483648, more than/],
    [{ num_hidden_layers: 1000, hidden_size: 8192, intermediate_size: 28672, num_attention_heads: 64, num_key_value_heads: 8, head_dim: 128 }, /GB checkpoint in float32, more than --max-gb 40; nothing was written/],
  ])('random refuses %j in one line, exit 1, before writing anything', async (over, msg) => {
    const cfgPath = path.join(tmp, 'huge.json');
    await fs.writeFile(cfgPath, JSON.stringify(tinyConfigJson('llama', over)));
    const out = path.join(tmp, 'huge-out');
    const io = capture();
    expect(await main(['model', 'random', '--config', cfgPath, '--out', out], io)).toBe(1);
    expect(io.errs).toHaveLength(1);
    expect(io.errs[0]).toMatch(msg);
    expect(io.errs[0]).not.toMatch(/typed array/i);
    await expect(fs.stat(out)).rejects.toThrow(); // nothing written, not even the folder
  });

  it('build writes the 8-bit dtypes under their hub names', async () => {
    const cfgPath = path.join(tmp, 'q8.json');
    await fs.writeFile(cfgPath, JSON.stringify(tinyConfigJson('qwen3')));
    const ckDir = path.join(tmp, 'ck-q8');
    expect(await main(['model', 'random', '--config', cfgPath, '--out', ckDir], capture())).toBe(0);
    for (const [dtype, file] of [['q8', 'model_quantized.onnx'], ['uint8', 'model_uint8.onnx']]) {
      const io = capture();
      expect(await main(['model', 'build', ckDir, '--out', path.join(tmp, 'm-q8'), '--dtype', dtype, '--json'], io)).toBe(0);
      expect(JSON.parse(io.outs[0]).model).toBe(path.join(tmp, 'm-q8', 'onnx', file));
    }
  });
});
