/**
 * Test-only helpers (never imported by product code): the tiny random decoder the builder, dtype
 * and rewrite tests share; run a built decoder with onnxruntime-node, feeding transformers.js-style
 * inputs; compare arrays.
 */
import * as ort from 'onnxruntime-node';
import { randomCheckpoint, type Checkpoint } from '../checkpoint';
import { parseConfig, tinyConfigJson, type DecoderConfig } from '../config';
import { outputF32, type Ort } from '../ort';
import type { ModelCase } from '../../onnx/rewrite/prove.testkit';

export { maxAbsDiff } from '../../onnx/rewrite/prove.testkit';

/** The prompt the tiny-model tests feed. */
export const TINY_IDS = [3, 17, 200, 5, 9];

/**
 * A tiny random decoder: 2 layers, hidden 96, MLP 160, vocab 300 (then `overrides`, HF config
 * keys), its config and checkpoint.
 */
export function tinyModel(family: 'qwen3' | 'qwen2' | 'llama', seed: number, overrides: Record<string, unknown> = {}): { cfg: DecoderConfig; ck: Checkpoint } {
  const cfg = parseConfig(tinyConfigJson(family, { num_hidden_layers: 2, hidden_size: 96, intermediate_size: 160, vocab_size: 300, ...overrides }));
  return { cfg, ck: randomCheckpoint(cfg, { seed }) };
}

/** Pearson correlation of two equally long arrays. */
export function corr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]; mb += b[i]; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) ** 2; sbb += (b[i] - mb) ** 2; }
  return sab / Math.sqrt(saa * sbb);
}

/** A built decoder as a prove.testkit ModelCase: all-ones mask, positions 0.., empty fp32 caches. */
export function decoderCase(label: string, cfg: DecoderConfig, bytes: Uint8Array, externalData?: ModelCase['externalData']): ModelCase {
  const extraFeeds = (o: Ort, B: number, S: number) => {
    const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
    feeds.attention_mask = new o.Tensor('int64', new BigInt64Array(B * S).fill(1n), [B, S]);
    feeds.position_ids = new o.Tensor('int64', BigInt64Array.from({ length: B * S }, (_, i) => BigInt(i % S)), [B, S]);
    for (let i = 0; i < cfg.numLayers; i++) for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new o.Tensor('float32', new Float32Array(0), [B, cfg.numKvHeads, 0, cfg.headDim]);
    return feeds;
  };
  return { label, bytes, externalData, vocabSize: cfg.vocabSize, extraFeeds };
}

export interface StepResult {
  logits: Float32Array;
  present: ort.Tensor[];
  outputs: Record<string, ort.Tensor>;
}

export async function createSession(onnx: Uint8Array, externalData?: { path: string; data: Uint8Array }[]): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(onnx, { externalData, graphOptimizationLevel: 'disabled' } as ort.InferenceSession.SessionOptions);
}

export const toF32 = (t: ort.Tensor): Float32Array => outputF32(t);

/**
 * One forward step for batch 1: `ids` are the new tokens, `past` the previous present tensors
 * (empty on the first step), positions continue from the past length.
 */
export async function step(
  session: ort.InferenceSession,
  cfg: DecoderConfig,
  ids: number[],
  past?: ort.Tensor[],
  opts: { fp16?: boolean; attentionMask?: number[]; positionIds?: number[]; extra?: Record<string, ort.Tensor> } = {},
): Promise<StepResult> {
  const pastLen = past ? past[0].dims[2] : 0;
  const total = pastLen + ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
    attention_mask: new ort.Tensor('int64', BigInt64Array.from((opts.attentionMask ?? Array(total).fill(1)).map(BigInt)), [1, total]),
  };
  if (session.inputNames.includes('position_ids')) {
    const pos = opts.positionIds ?? ids.map((_, i) => pastLen + i);
    feeds.position_ids = new ort.Tensor('int64', BigInt64Array.from(pos.map(BigInt)), [1, ids.length]);
  }
  const type = opts.fp16 ? 'float16' : 'float32';
  for (let i = 0; i < cfg.numLayers; i++) {
    for (const [j, kv] of ['key', 'value'].entries()) {
      feeds[`past_key_values.${i}.${kv}`] = past
        ? past[2 * i + j]
        : new ort.Tensor(type, type === 'float16' ? new Uint16Array(0) : new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
    }
  }
  Object.assign(feeds, opts.extra ?? {});
  const out = await session.run(feeds);
  const present: ort.Tensor[] = [];
  for (let i = 0; i < cfg.numLayers; i++) present.push(out[`present.${i}.key`], out[`present.${i}.value`]);
  return { logits: toF32(out.logits), present, outputs: out };
}
