/**
 * Test-only helpers (never imported by product code): run a built decoder with onnxruntime-node,
 * feeding transformers.js-style inputs, and compare arrays.
 */
import * as ort from 'onnxruntime-node';
import type { DecoderConfig } from '../config';
import { outputF32 } from '../ort';

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

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
