/**
 * One layer of the per-layer analysis (cos(axis, PC_k), |axis|, explained-variance ratios), as a
 * message a pool worker runs: the layer's N x d values (float32, decoded by the sender), the
 * default and the stored axis at that layer, the fit members. The worker rebuilds a single-layer
 * PersonaSet and runs the same `pcaAtLayer` as the main thread, so the numbers are identical.
 * `servePcaTasks` is the whole worker: the browser worker (pca-pool.worker.ts) and the Node
 * worker_threads one (pca-pool.node-worker.ts) only adapt their message port to it.
 */
import { isPersonaSpaceError } from '../src/core/errors';
import { pcaAtLayer, type LayerSummary } from '../src/core/persona/analysis';
import { createPersonaSet } from '../src/core/persona/persona-set';

export interface PcaLayerTask {
  id: number;
  /** The layer in the sender's set (null for a single-layer set). */
  layer: number | null;
  /** Members (rows of `values`). */
  count: number;
  dim: number;
  /** count x dim, row-major (transferred). */
  values: Float32Array;
  defaultVector: Float32Array | null;
  defaultLabel: string | null;
  storedAxis: Float32Array | null;
  /** Indices of the fit members. */
  members: number[];
  components: number;
  keepAxis: boolean;
}

/** `values` is the task's buffer handed back (transferred), for the sender to decode the next layer into. */
export type PcaLayerReply = ({ id: number; ok: true; summary: LayerSummary } | { id: number; ok: false; code: string; message: string }) & { values?: Float32Array };

/** Run one task (pure: no worker globals). */
export function runPcaLayerTask(t: PcaLayerTask): PcaLayerReply {
  try {
    const names = Array.from({ length: t.count }, (_, i) => `m${i}`);
    const set = createPersonaSet({
      names,
      vectors: t.values,
      dim: t.dim,
      default: t.defaultVector,
      defaultLabel: t.defaultLabel ?? undefined,
      storedAxis: t.storedAxis ? { dtype: 'float32', shape: [t.dim], data: new Uint8Array(t.storedAxis.buffer, t.storedAxis.byteOffset, t.storedAxis.byteLength) } : null,
    });
    const p = pcaAtLayer(set, null, { components: t.components, members: t.members });
    const summary: LayerSummary = { layer: t.layer, axisNorm: p.axisNorm, cosAxisPc: p.cosAxisPc, explainedVarianceRatio: p.explainedVarianceRatio };
    if (t.keepAxis) summary.axis = p.axis;
    return { id: t.id, ok: true, summary };
  } catch (e) {
    return { id: t.id, ok: false, code: isPersonaSpaceError(e) ? e.code : 'internal', message: e instanceof Error ? e.message : String(e) };
  }
}

/** The buffers of a reply that can be transferred instead of copied. */
export function replyTransfer(r: PcaLayerReply): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  if (r.values && r.values.buffer instanceof ArrayBuffer) out.add(r.values.buffer);
  if (r.ok) for (const a of [r.summary.cosAxisPc, r.summary.explainedVarianceRatio, r.summary.axis]) if (a && a.buffer instanceof ArrayBuffer) out.add(a.buffer);
  return [...out];
}

/** A worker's side of the port: where tasks come in and replies go out. */
export interface TaskPort {
  onTask(handler: (t: PcaLayerTask) => void): void;
  reply(r: PcaLayerReply, transfer: ArrayBuffer[]): void;
}

/** Serve tasks on a port until the worker is terminated. */
export function servePcaTasks(port: TaskPort): void {
  port.onTask((t) => {
    const r: PcaLayerReply = { ...runPcaLayerTask(t), values: t.values };
    port.reply(r, replyTransfer(r));
  });
}
