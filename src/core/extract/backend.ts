/**
 * Running rollouts on a model: a batch of templated prompts in, per row the generated tokens, the
 * content span and the mean of resid_post over it at every layer.
 *
 * On an engine with rows (`LmEngine.conversation`, issue #7) the batch runs as rows of one
 * conversation with `keepResid`, the means accumulated from `onPosition` as positions go by; on
 * an engine without, each row is generated alone and then teacher-forced once to read its
 * resid_post (the same numbers, one row at a time).
 */
import { DataError } from '../errors';
import type { LmEngine } from '../lm/generate';
import type { Conversation, PositionEvent } from '../lm/rows';
import type { SamplingParams } from '../lm/sampling';
import { contentSpan, SpanTracker, type SpanTokens } from './chat';

export interface BatchRow {
  prompt: readonly number[];
  seed: number;
}

export interface BatchOptions {
  maxNewTokens: number;
  sampling: SamplingParams;
  stopIds: readonly number[];
  span: SpanTokens;
  signal?: AbortSignal;
  /** Told, where the backend knows it, the batch's prompt pass in ms (its first token included), by the engine's own timer (the extraction estimate reads it). */
  onPrefill?: (ms: number) => void;
}

export interface RowOutcome {
  /** Generated ids (a final stop token included). */
  generated: number[];
  stopReason: string;
  /** [start, end) in prompt + generated. */
  span: [number, number];
  mean: Float32Array | null;
}

export interface RolloutBackend {
  readonly numLayers: number;
  readonly hiddenSize: number;
  /** Whether rows really run batched (false: one at a time). */
  readonly batched: boolean;
  runBatch(rows: readonly BatchRow[], opts: BatchOptions): Promise<RowOutcome[]>;
}

type WithRows = LmEngine & { conversation?: (rows: number) => Conversation };

/**
 * The backend for an instrumented engine: rows of `opts.conversation` (default: the engine's own
 * `conversation`, when it has one); `preferRows: false` forces one row at a time.
 */
export function engineBackend(engine: LmEngine, opts: { preferRows?: boolean; conversation?: (rows: number) => Conversation } = {}): RolloutBackend {
  if (!engine.instrumented) {
    throw new DataError('not-instrumented', 'This model graph has no resid_post taps, so activations cannot be read; load it through the instrumenting loader.');
  }
  const { numLayers, hiddenSize } = engine.shape;
  const own = (engine as WithRows).conversation;
  const rows = opts.conversation ?? (typeof own === 'function' ? (n: number) => own.call(engine, n) : null);
  const batched = rows !== null && opts.preferRows !== false;
  return {
    numLayers,
    hiddenSize,
    batched,
    runBatch: batched ? (r, o) => runRows(engine, rows!, r, o) : (r, o) => runOneByOne(engine, r, o),
  };
}

async function runOneByOne(engine: LmEngine, rows: readonly BatchRow[], o: BatchOptions): Promise<RowOutcome[]> {
  const { numLayers: L, hiddenSize: d } = engine.shape;
  const out: RowOutcome[] = [];
  for (const row of rows) {
    if (o.signal?.aborted) throw abortError();
    const g = await engine.generate(row.prompt, { maxNewTokens: o.maxNewTokens, seed: row.seed, stopIds: o.stopIds, params: { sampling: o.sampling }, signal: o.signal });
    if (g.stopReason === 'interrupted') throw abortError();
    const full = [...row.prompt, ...g.ids];
    const span = contentSpan(full, row.prompt.length, o.span);
    let mean: Float32Array | null = null;
    if (span[1] > span[0]) {
      const f = await engine.forward(full.slice(0, span[1]));
      mean = meanOverSpan(f.residPost!, L, f.seq, d, span);
    }
    out.push({ generated: g.ids, stopReason: g.stopReason, span, mean });
  }
  return out;
}

/** Mean over positions [s, e) of a (L, seq, d) resid_post buffer, float64 sums. */
export function meanOverSpan(resid: Float32Array, L: number, seq: number, d: number, [s, e]: [number, number]): Float32Array {
  const out = new Float32Array(L * d);
  const acc = new Float64Array(d);
  for (let l = 0; l < L; l++) {
    acc.fill(0);
    for (let p = s; p < e; p++) {
      const o = (l * seq + p) * d;
      for (let j = 0; j < d; j++) acc[j] += resid[o + j];
    }
    for (let j = 0; j < d; j++) out[l * d + j] = acc[j] / (e - s);
  }
  return out;
}

async function runRows(engine: LmEngine, open: (rows: number) => Conversation, rows: readonly BatchRow[], o: BatchOptions): Promise<RowOutcome[]> {
  const { numLayers: L, hiddenSize: d } = engine.shape;
  const B = rows.length;
  const conv = open(B);
  try {
    const trackers = rows.map((r) => new SpanTracker(o.span, r.prompt.length));
    const sums = rows.map(() => new Float64Array(L * d));
    const counts = new Array<number>(B).fill(0);
    rows.forEach((r, i) => conv.setTokens(i, r.prompt));
    const onPosition = (e: PositionEvent) => {
      const t = trackers[e.row];
      if (e.position < rows[e.row].prompt.length || !e.resid) return;
      const what = t.push(e.id, e.position);
      const s = sums[e.row];
      if (what === 'reset') {
        s.fill(0);
        counts[e.row] = 0;
      } else if (what === 'content') {
        for (let i = 0; i < L * d; i++) s[i] += e.resid[i];
        counts[e.row]++;
      }
    };
    const params = rows.map(() => ({ sampling: o.sampling }));
    const res = await conv.run({ maxNewTokens: o.maxNewTokens, stopIds: o.stopIds, seeds: rows.map((r) => r.seed), params, keepResid: true, onPosition, signal: o.signal });
    if (res.rows.some((r) => r.stopReason === 'interrupted')) throw abortError();
    o.onPrefill?.(res.prefillMs);
    // The last token of a row cut at max-tokens is queued, not yet fed: feed it to read its resid_post.
    if (res.rows.some((r) => r.stopReason === 'max-tokens')) {
      await conv.run({ maxNewTokens: 0, generate: rows.map(() => false), params, keepResid: true, onPosition, signal: o.signal });
    }
    return res.rows.map((r, i) => {
      const span: [number, number] = [trackers[i].start, trackers[i].end];
      let mean: Float32Array | null = null;
      if (span[1] > span[0]) {
        if (counts[i] !== span[1] - span[0]) throw new DataError('span-positions', `Row ${i}: ${counts[i]} positions were reported for a span of ${span[1] - span[0]} tokens.`);
        mean = new Float32Array(L * d);
        for (let k = 0; k < L * d; k++) mean[k] = sums[i][k] / counts[i];
      }
      return { generated: r.ids, stopReason: r.stopReason, span, mean };
    });
  } finally {
    conv.dispose();
  }
}

function abortError(): DOMException {
  return new DOMException('The extraction was paused.', 'AbortError');
}
