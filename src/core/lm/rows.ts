/**
 * The batched, conversation-keeping engine API (issue #7) — the contract the chat lab (#9) and
 * extraction (#8) are written against. `LmEngine.conversation(rows)` returns a `Conversation`.
 *
 * A conversation holds B rows. Each row is its own token sequence with its own KV cache slots,
 * its own interventions (steer / cap_axis / cap_tau) and its own sampling RNG; the rows run as
 * one batched forward pass per step (padding handled through attention_mask and position_ids).
 *
 * Life of a row:
 *   setTokens(row, ids)   the row's sequence should now be `ids` (a whole templated chat, prompt
 *                         included). The cache keeps the longest common prefix with what it already
 *                         processed and drops the rest (undo / edit = truncation); the remainder is
 *                         queued and fed, batched with the other rows, at the next run().
 *   run({...})            feeds every queued token of every row (batched prefill), then generates up
 *                         to maxNewTokens for each row with generate = true; rows stop independently
 *                         (their own stop ids) and a stopped row no longer costs compute where the
 *                         runtime allows. Generated tokens are appended to the row's sequence; the
 *                         last one is queued (not yet in the cache) and fed at the next run().
 *   recompute()           rebuilds every row's cache under the current row params (changing steering
 *                         mid-conversation otherwise keeps what was computed under the earlier
 *                         settings, as a deployed intervention would).
 *
 * Every position fed through the model is reported once through onPosition (prompt and generated
 * tokens alike), with its per-layer projections on the unit axis and, when asked, the whole
 * resid_post row (L x d): that is what drift (per-turn means over content tokens) and extraction
 * (per-rollout means at every layer) are computed from.
 */
import type { InterventionFeeds } from './generate';
import type { SamplingParams } from './sampling';
import type { StreamDecoder } from './tokenizer';

/**
 * Per-row live settings, read before every forward pass (mutate them or replace fields between
 * tokens). The steer / capAxis / capTau arrays are taken by identity: to change their values, put
 * new arrays in (or a new params object); values written into the same array in place are not
 * seen by the next step (its feeds are reused while every row's arrays stay the same).
 */
export interface RowParams extends InterventionFeeds {
  sampling?: SamplingParams;
}

export interface RunOptions {
  /** Per row: whether to generate after the queued tokens are fed (false: prefill only). Default: every row. */
  generate?: readonly boolean[];
  /** Most new tokens per row in this run (0 = only feed the queued tokens). */
  maxNewTokens: number;
  /** Token ids that end a row's generation (the model's eos ids); per row or shared. */
  stopIds?: readonly number[] | readonly (readonly number[])[];
  /** Per row sampling seeds for this run (default 0 each); the same seed, tokens and params give the same tokens. */
  seeds?: readonly number[];
  /** Per row live params; the array and its objects are read before every step. */
  params: readonly RowParams[];
  /** Projection axis (L, d), any norm (normalised per layer); live. Null: no projections. */
  axis?: Float32Array | null;
  /** Deliver the whole resid_post (L x d) of each position in onPosition (extraction). */
  keepResid?: boolean;
  signal?: AbortSignal;
  /** Per row text decoders (ChatTokenizer.streamDecoder()). */
  decoders?: readonly (StreamDecoder | undefined)[];
  onToken?: (e: RowTokenEvent) => void | Promise<void>;
  onPosition?: (e: PositionEvent) => void;
}

export interface RowTokenEvent {
  row: number;
  /** 0-based index among this run's generated tokens of this row. */
  index: number;
  id: number;
  text: string;
  /** Per layer, resid_post . unit axis at the position whose pass chose this token (null without axis/taps). */
  projections: Float32Array | null;
  stop: boolean;
}

export interface PositionEvent {
  row: number;
  /** Index of this token in the row's sequence (0-based). */
  position: number;
  id: number;
  /** Per layer resid_post[L] . axis[L]/|axis[L]| at this position, after steering and capping (null without axis). */
  projections: Float32Array | null;
  /** (L x d) resid_post at this position when keepResid; a view valid only during the callback. */
  resid: Float32Array | null;
  /** How many layers the cap raised at this position (0 when capping is off). */
  clamped: number;
  /**
   * Per layer, how much the cap added along its own unit axis at this position (relu(tau - h.a);
   * 0 where it did not act); null when the graph has no cap. With the cap axis equal to the
   * projection axis, the pre-cap value at layer l is projections[l] - lifts[l].
   */
  lifts?: Float32Array | null;
}

export type RowStopReason = 'eos' | 'max-tokens' | 'interrupted' | 'prefill-only';

export interface RowRunResult {
  /** Tokens generated for this row in this run (a stop token included, as the last one). */
  ids: number[];
  text: string;
  stopReason: RowStopReason;
}

export interface RunResult {
  rows: RowRunResult[];
  /** Tokens fed in the prefill part of this run (all rows). */
  prefillTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens per second over all rows, after each row's first token. */
  decodeTokensPerSecond: number;
}

export interface Conversation {
  readonly rows: number;
  /** The row's whole sequence: processed tokens, then queued ones. */
  tokens(row: number): readonly number[];
  /** How many of the row's tokens are in the KV cache. */
  cachedLength(row: number): number;
  /** Make the row's sequence `ids` (keeps the common prefix in the cache, queues the rest). */
  setTokens(row: number, ids: readonly number[]): void;
  run(options: RunOptions): Promise<RunResult>;
  /** Rebuild every row's cache under `params` (the current settings). */
  recompute(params: readonly RowParams[], options?: Pick<RunOptions, 'axis' | 'keepResid' | 'onPosition' | 'signal'>): Promise<void>;
  /** Free the cache (GPU buffers too). The conversation cannot be used afterwards. */
  dispose(): void;
}
