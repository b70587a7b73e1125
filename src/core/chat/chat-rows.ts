/**
 * Chats as rows of one batched Conversation (src/core/lm/rows.ts): each row holds its own messages
 * (a templated chat), its own live interventions, and — for every position fed through the model —
 * the projection of resid_post on the unit axis at every layer, how many layers the cap raised
 * there, and resid_post itself at one kept layer (for turn means as d-vectors).
 *
 * A row's token sequence is always the model's chat template over its messages (content spans from
 * `templatedChat`), so undo, edit and a new turn are "set the messages": the Conversation keeps the
 * cache of the common prefix and feeds the rest. Values of re-fed positions are replaced.
 *
 * An answer's values are frozen as it is generated ("as generated"); a second Conversation with no
 * interventions ("the reader") teacher-forces each row's text for "as read by the unmodified model".
 */
import { DataError } from '../errors';
import type { Conversation, PositionEvent, RowParams } from '../lm/rows';
import type { StreamDecoder } from '../lm/tokenizer';
import { templatedChat, type SpanMessage, type SpanTokenizer, type TemplatedChat } from './spans';
import type { SpanValues } from './types';

export interface ChatModel {
  tokenizer: SpanTokenizer & { streamDecoder(): StreamDecoder; readonly specialIds: ReadonlySet<number> };
  conversation(rows: number): Conversation;
  numLayers: number;
  hiddenSize: number;
  stopIds: readonly number[];
  /** Longest sequence the model takes (max_position_embeddings), checked before a run; unknown = not checked here. */
  maxPositions?: number;
}

export interface RowMessage extends SpanMessage {
  /** Frozen values of a generated answer (per token of `ids`). */
  generated?: SpanValues;
  stopReason?: string;
}

/** Per position values of one row, as last fed. */
class PositionStore {
  /** The token id fed at each position (values hold only while the sequence still has it there). */
  ids: number[] = [];
  proj: (Float32Array | undefined)[] = [];
  clamped: number[] = [];
  /** Per layer, what the cap added along the (unit) projection axis; undefined where it did not act. */
  lift: (Float32Array | undefined)[] = [];
  resid: (Float32Array | undefined)[] = [];
  residLayer: number | null = null;
  truncate(n: number): void {
    if (this.ids.length > n) this.ids.length = n;
    if (this.proj.length > n) this.proj.length = n;
    if (this.clamped.length > n) this.clamped.length = n;
    if (this.lift.length > n) this.lift.length = n;
    if (this.resid.length > n) this.resid.length = n;
  }
  put(e: PositionEvent, keepLayer: number | null, d: number): void {
    this.ids[e.position] = e.id;
    if (e.projections) this.proj[e.position] = Float32Array.from(e.projections);
    this.clamped[e.position] = e.clamped;
    // The cap axis is the projection axis (paneFeeds), so the value just before the cap is projection - lift.
    this.lift[e.position] = e.lifts && e.clamped > 0 ? Float32Array.from(e.lifts) : undefined;
    if (keepLayer !== null && e.resid) {
      if (this.residLayer !== keepLayer) {
        this.resid = [];
        this.residLayer = keepLayer;
      }
      this.resid[e.position] = e.resid.slice(keepLayer * d, (keepLayer + 1) * d);
    }
  }
  /** Values over a span of `ids` (null when a position was not fed with that token). */
  values(span: readonly [number, number], ids: readonly number[]): SpanValues | null {
    const [s, e] = span;
    const perToken: Float32Array[] = [];
    let clamped = 0;
    let lifted = false;
    for (let p = s; p < e; p++) {
      const v = this.proj[p];
      if (!v || this.ids[p] !== ids[p]) return null;
      perToken.push(v);
      clamped += this.clamped[p] ?? 0;
      if (this.lift[p]) lifted = true;
    }
    let preCap: SpanValues['preCap'] = null;
    if (lifted) {
      const pre = perToken.map((v, k) => {
        const lift = this.lift[s + k];
        return lift ? v.map((x, l) => x - lift[l]) : v;
      });
      preCap = { perToken: pre, mean: meanRows(pre) };
    }
    return { perToken, mean: meanRows(perToken), clamped, preCap };
  }
  /** Mean resid_post at the kept layer over the span (null if a position is missing or the layer differs). */
  meanResid(span: readonly [number, number], ids: readonly number[], layer: number, d: number): Float32Array | null {
    if (this.residLayer !== layer) return null;
    const [s, e] = span;
    if (e <= s) return null;
    const acc = new Float64Array(d);
    for (let p = s; p < e; p++) {
      const r = this.resid[p];
      if (!r || this.ids[p] !== ids[p]) return null;
      for (let j = 0; j < d; j++) acc[j] += r[j];
    }
    return Float32Array.from(acc, (x) => x / (e - s));
  }
}

/** Per layer mean of per-token rows (float64 accumulation); null for no rows. */
export function meanRows(rows: readonly Float32Array[]): number[] | null {
  if (!rows.length) return null;
  const L = rows[0].length;
  const acc = new Float64Array(L);
  for (const r of rows) for (let l = 0; l < L; l++) acc[l] += r[l];
  return Array.from(acc, (x) => x / rows.length);
}

export interface AnswerOptions {
  maxTokens: number;
  seed: number;
  signal?: AbortSignal;
  onToken?: (row: number, e: { index: number; id: number; text: string; projections: Float32Array | null; clamped: number; stop: boolean }) => void;
  onValue?: (row: number, e: { index: number; projections: Float32Array; clamped: number }) => void;
}

export interface RowAnswer {
  text: string;
  ids: number[];
  stopReason: string;
}

export class ChatRows {
  readonly n: number;
  /** Live per-row params (the Conversation reads them before every step): mutate fields to change settings. */
  readonly params: RowParams[];
  private conv: Conversation;
  private reader: Conversation | null = null;
  private readonly msgs: RowMessage[][];
  private readonly chats: (TemplatedChat | null)[];
  private readonly store: PositionStore[];
  private readonly readStore: PositionStore[];
  private readonly readChats: (TemplatedChat | null)[];
  /** resid_post layer kept per position (null: none). */
  keepLayer: number | null;

  constructor(
    private readonly model: ChatModel,
    n: number,
    private axis: Float32Array,
    opts: { keepLayer?: number | null } = {},
  ) {
    if (axis.length !== model.numLayers * model.hiddenSize) {
      throw new DataError('axis-shape', `The axis holds ${axis.length} numbers; this model needs ${model.numLayers} x ${model.hiddenSize}.`);
    }
    this.n = n;
    this.conv = model.conversation(n);
    this.params = Array.from({ length: n }, () => ({}));
    this.msgs = Array.from({ length: n }, () => []);
    this.chats = new Array(n).fill(null);
    this.store = Array.from({ length: n }, () => new PositionStore());
    this.readStore = Array.from({ length: n }, () => new PositionStore());
    this.readChats = new Array(n).fill(null);
    this.keepLayer = opts.keepLayer ?? null;
  }

  setAxis(axis: Float32Array): void {
    if (axis.length !== this.model.numLayers * this.model.hiddenSize) throw new DataError('axis-shape', `The axis holds ${axis.length} numbers; this model needs ${this.model.numLayers} x ${this.model.hiddenSize}.`);
    this.axis = axis;
    // Projections on the old axis mean nothing now.
    for (const s of [...this.store, ...this.readStore]) s.truncate(0);
    for (let r = 0; r < this.n; r++) this.resetRowCache(r);
  }

  messages(row: number): readonly RowMessage[] {
    return this.msgs[row];
  }

  /** Replace a row's messages (undo, edit, a transcript); the cache keeps the common prefix at the next feed. */
  setMessages(row: number, messages: readonly RowMessage[]): void {
    this.msgs[row] = messages.map((m) => ({ ...m }));
  }

  push(row: number, m: RowMessage): void {
    this.msgs[row].push({ ...m });
  }

  /** The row's templated chat (with a generation prompt when it is about to answer). */
  chat(row: number, generationPrompt = false): TemplatedChat {
    return templatedChat(this.model.tokenizer, this.msgs[row], { addGenerationPrompt: generationPrompt });
  }

  private stage(row: number, chat: TemplatedChat): void {
    this.conv.setTokens(row, chat.ids);
    this.store[row].truncate(this.conv.cachedLength(row));
    this.chats[row] = chat;
  }

  private resetRowCache(row: number): void {
    if (this.chats[row]) this.conv.setTokens(row, []);
    this.chats[row] = null;
    this.store[row].truncate(0);
    if (this.reader && this.readChats[row]) this.reader.setTokens(row, []);
    this.readChats[row] = null;
    this.readStore[row].truncate(0);
  }

  private onPosition(stores: PositionStore[]) {
    const d = this.model.hiddenSize;
    return (e: PositionEvent) => stores[e.row]?.put(e, this.keepLayer, d);
  }

  /** Teacher-force the rows' current messages (no generation) through their own params. */
  async feed(rows: readonly number[], signal?: AbortSignal): Promise<void> {
    if (!rows.length) return;
    for (const r of rows) this.stage(r, this.chat(r, false));
    await this.conv.run({
      generate: this.flags(rows).map(() => false),
      maxNewTokens: 0,
      params: this.params,
      axis: this.axis,
      keepResid: this.keepLayer !== null,
      signal,
      onPosition: this.onPosition(this.store),
    });
  }

  private flags(rows: readonly number[]): boolean[] {
    const f = new Array(this.n).fill(false);
    for (const r of rows) f[r] = true;
    return f;
  }

  /**
   * Each row in `rows` answers its messages (the last one is the user's): one batched run, then the
   * last generated token is fed too, so every answer token has its own-position values. The answer
   * is appended to each row's messages with its ids and frozen values.
   */
  async answer(rows: readonly number[], o: AnswerOptions): Promise<Map<number, RowAnswer>> {
    const out = new Map<number, RowAnswer>();
    if (!rows.length) return out;
    const promptLen = new Map<number, number>();
    for (const r of rows) {
      const c = this.chat(r, true);
      this.stage(r, c);
      promptLen.set(r, c.ids.length);
    }
    const gen = this.flags(rows);
    const stop = new Set(this.model.stopIds);
    const decoders = Array.from({ length: this.n }, (_, r) => (gen[r] ? this.model.tokenizer.streamDecoder() : undefined));
    const store = this.onPosition(this.store);
    const res = await this.conv.run({
      generate: gen,
      maxNewTokens: o.maxTokens,
      stopIds: [...this.model.stopIds],
      seeds: new Array(this.n).fill(o.seed),
      params: this.params,
      axis: this.axis,
      keepResid: this.keepLayer !== null,
      signal: o.signal,
      decoders,
      onPosition: (e) => {
        store(e);
        const p0 = promptLen.get(e.row);
        if (p0 !== undefined && e.position >= p0 && e.projections && !stop.has(e.id)) o.onValue?.(e.row, { index: e.position - p0, projections: Float32Array.from(e.projections), clamped: e.clamped });
      },
      onToken: (e) => {
        const p0 = promptLen.get(e.row)!;
        o.onToken?.(e.row, { index: e.index, id: e.id, text: e.text, projections: e.projections, clamped: this.store[e.row].clamped[p0 + e.index - 1] ?? 0, stop: e.stop });
      },
    });
    // Record each answer, then feed every row's whole templated chat (the last generated token, the
    // end of turn, and whatever the template writes differently from the generated ids), so every
    // position of the conversation has values and the next turn starts from a settled cache.
    const answers = new Map<number, { ids: number[]; p0: number }>();
    for (const r of rows) {
      const rr = res.rows[r];
      const ids = rr.ids.slice();
      if (ids.length && stop.has(ids[ids.length - 1])) ids.pop();
      this.msgs[r].push({ role: 'assistant', content: rr.text, ids, stopReason: rr.stopReason });
      answers.set(r, { ids, p0: promptLen.get(r)! });
      out.set(r, { text: rr.text, ids, stopReason: rr.stopReason });
    }
    const settled = new Map<number, TemplatedChat>();
    for (const r of rows) {
      const c = this.chat(r, false);
      this.stage(r, c);
      settled.set(r, c);
    }
    await this.conv.run({
      generate: new Array(this.n).fill(false),
      maxNewTokens: 0,
      params: this.params,
      axis: this.axis,
      keepResid: this.keepLayer !== null,
      onPosition: (e) => {
        store(e);
        const a = answers.get(e.row);
        const k = a ? e.position - a.p0 : -1;
        if (a && k >= 0 && k < a.ids.length && a.ids[k] === e.id && e.projections) o.onValue?.(e.row, { index: k, projections: Float32Array.from(e.projections), clamped: e.clamped });
      },
    });
    // Freeze each answer's values as generated (kept while its tokens stay where they are).
    for (const r of rows) {
      const c = settled.get(r)!;
      const i = this.msgs[r].length - 1;
      const m = this.msgs[r][i];
      const span = c.spans[i];
      const kept = span[0] === answers.get(r)!.p0 && span[1] - span[0] === m.ids!.length;
      m.generated = (kept && this.store[r].values(span, c.ids)) || undefined;
    }
    return out;
  }

  /** Teacher-force each row's text through a row with no interventions (the unmodified model). */
  async read(rows: readonly number[], signal?: AbortSignal): Promise<void> {
    if (!rows.length) return;
    this.reader ??= this.model.conversation(this.n);
    for (const r of rows) {
      const c = this.chat(r, false);
      this.reader.setTokens(r, c.ids);
      this.readStore[r].truncate(this.reader.cachedLength(r));
      this.readChats[r] = c;
    }
    const flags = new Array(this.n).fill(false);
    await this.reader.run({
      generate: flags,
      maxNewTokens: 0,
      params: Array.from({ length: this.n }, () => ({})),
      axis: this.axis,
      keepResid: this.keepLayer !== null,
      signal,
      onPosition: this.onPosition(this.readStore),
    });
  }

  /**
   * The row as it stands: ids, and per message its span, tokens and values. `generated` is an
   * answer's frozen values while its tokens are unchanged; with `asFed`, every message's values are
   * those of the positions as last fed (the values of `ids` as one sequence).
   */
  view(row: number, opts: { asFed?: boolean } = {}): { chat: TemplatedChat | null; messages: { m: RowMessage; span: [number, number]; generated: SpanValues | null; read: SpanValues | null; tokens: number[] }[]; clampedTotal: number } {
    const msgs = this.msgs[row];
    if (!msgs.length) return { chat: null, messages: [], clampedTotal: 0 };
    const chat = this.chat(row, false);
    const store = this.store[row];
    const readChat = this.readChats[row];
    const sameRead = readChat !== null && readChat.ids.length === chat.ids.length && readChat.ids.every((x, i) => x === chat.ids[i]);
    const messages = msgs.map((m, i) => {
      const span = chat.spans[i];
      const tokens = chat.ids.slice(span[0], span[1]);
      const keptIds = m.ids !== undefined && m.ids.length === tokens.length && m.ids.every((x, k) => x === tokens[k]);
      const generated = m.generated && keptIds && !opts.asFed ? m.generated : store.values(span, chat.ids);
      const read = sameRead ? this.readStore[row].values(span, chat.ids) : null;
      return { m, span, generated, read, tokens };
    });
    let clampedTotal = 0;
    for (let p = 0; p < chat.ids.length; p++) clampedTotal += store.clamped[p] ?? 0;
    return { chat, messages, clampedTotal };
  }

  /**
   * Per assistant message: the mean resid_post at the kept layer over its content tokens. When some
   * are missing (the kept layer changed since they were fed), the row's cache is rebuilt once to
   * get them: through the unmodified model for 'read'; for 'generated', under the row's *current*
   * settings (Conversation.recompute), which is what the vectors then mean.
   */
  async turnVectors(row: number, mode: 'generated' | 'read'): Promise<(Float32Array | null)[]> {
    const layer = this.keepLayer;
    if (layer === null || !this.msgs[row].length) return [];
    const chat = this.chat(row, false);
    const d = this.model.hiddenSize;
    const get = () => {
      const store = mode === 'read' ? this.readStore[row] : this.store[row];
      return this.msgs[row].flatMap((m, i) => (m.role === 'assistant' ? [store.meanResid(chat.spans[i], chat.ids, layer, d)] : []));
    };
    let v = get();
    if (v.some((x) => x === null)) {
      if (mode === 'read') {
        if (this.reader && this.readChats[row]) {
          this.readStore[row].truncate(0);
          await this.reader.recompute(Array.from({ length: this.n }, () => ({})), { axis: this.axis, keepResid: true, onPosition: this.onPosition(this.readStore) });
        }
        await this.read([row]);
      } else {
        for (const s of this.store) s.truncate(0);
        await this.conv.recompute(this.params, { axis: this.axis, keepResid: true, onPosition: this.onPosition(this.store) });
        await this.feed([row]);
      }
      v = get();
    }
    return v;
  }

  /**
   * Rebuild every row's cache under its current params (a settings change otherwise keeps what was
   * computed before it, as a deployed intervention would). Answers keep their values as generated;
   * every other value is recomputed.
   */
  async recompute(signal?: AbortSignal): Promise<void> {
    for (const s of this.store) s.truncate(0);
    await this.conv.recompute(this.params, { axis: this.axis, keepResid: this.keepLayer !== null, onPosition: this.onPosition(this.store), signal });
    const rows = this.msgs.flatMap((m, r) => (m.length ? [r] : []));
    await this.feed(rows, signal);
  }

  /** Forget every row's messages and caches (a fresh conversation). */
  reset(): void {
    for (let r = 0; r < this.n; r++) {
      this.msgs[r] = [];
      this.resetRowCache(r);
    }
  }

  dispose(): void {
    this.conv.dispose();
    this.reader?.dispose();
    this.reader = null;
  }
}
