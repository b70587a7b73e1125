/**
 * The chat lab's session: three panes — Default | Steered | Capped — that share one user stream and
 * one seed and run as three rows of one batched Conversation (hidden panes sit out). Settings
 * (steering in sd of the role projections or the raw coefficient, cap window and threshold,
 * sampling) are live: a change reaches the next token of a running answer.
 */
import { DataError } from '../errors';
import type { AxisBundle } from '../persona/axis-bundle';
import { checkBundle, defaultChatSettings, paneFeeds, resolveAll, resolvePane } from './axis';
import { ChatRows, type ChatModel, type RowMessage } from './chat-rows';
import { templatedChat } from './spans';
import type { ChatEvent, ChatMessageView, ChatSettings, ChatSettingsPatch, ChatSnapshot, PaneId, PaneSnapshot, ResolvedSettings } from './types';
import { PANE_IDS } from './types';

export class ChatSession {
  private rows: ChatRows;
  private settings: ChatSettings;
  private abort: AbortController | null = null;
  private busy = false;
  private stopped = false;
  /** Panes that took part in the conversation so far (a pane never run has no snapshot). */
  private ran = new Set<PaneId>();
  /** The system prompt the conversation was built with. */
  private systemUsed = '';

  constructor(
    private readonly model: ChatModel,
    private bundle: AxisBundle,
    settings?: ChatSettings,
    private readonly opts: { autoRead?: boolean } = {},
  ) {
    checkBundle(bundle, model);
    this.settings = settings ?? defaultChatSettings(model.numLayers, bundle);
    this.rows = new ChatRows(model, PANE_IDS.length, bundle.axis, { keepLayer: this.settings.monitorLayer });
    this.applyParams();
  }

  get axis(): AxisBundle {
    return this.bundle;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  /** How many user turns the conversation holds. */
  get turns(): number {
    return this.userTurns().length;
  }

  /** A new axis for the same model (projections are recomputed at the next feed). */
  setAxis(b: AxisBundle): void {
    this.guard();
    checkBundle(b, this.model);
    const next = { ...this.settings, panes: { ...this.settings.panes } };
    // A percentile cap needs a calibration; keep a fixed one otherwise.
    for (const p of PANE_IDS) {
      const cap = next.panes[p].cap;
      if (cap && cap.threshold.kind === 'percentile' && !b.calibration) next.panes[p] = { ...next.panes[p], cap: { ...cap, threshold: { kind: 'fixed', tau: 0 } } };
      const st = next.panes[p].steer;
      if (st && st.unit === 'sd' && !b.roleStats) next.panes[p] = { ...next.panes[p], steer: { ...st, unit: 'raw', amount: 0 } };
    }
    resolveAll(b, next);
    this.bundle = b;
    this.settings = next;
    this.rows.setAxis(b.axis);
    this.applyParams();
  }

  /** Apply a settings change; checked first, so a bad value changes nothing. Reaches the next token. */
  update(patch: ChatSettingsPatch): ResolvedSettings {
    const next = mergeSettings(this.settings, patch, defaultChatSettings(this.model.numLayers, this.bundle));
    const L = this.model.numLayers;
    if (!Number.isInteger(next.monitorLayer) || next.monitorLayer < 0 || next.monitorLayer >= L) {
      throw new DataError('monitor-layer', `Layer ${next.monitorLayer} does not exist: this model has layers 0 to ${L - 1}.`);
    }
    const s = next.sampling;
    if (!(s.temperature >= 0 && Number.isFinite(s.temperature))) throw new DataError('sampling', `Temperature must be 0 or more, got ${s.temperature}.`);
    if (!(s.topP > 0 && s.topP <= 1)) throw new DataError('sampling', `top-p must be in (0, 1], got ${s.topP}.`);
    if (!Number.isInteger(s.maxTokens) || s.maxTokens < 1 || s.maxTokens > 8192) throw new DataError('max-tokens', `Max tokens must be a whole number from 1 to 8192, got ${s.maxTokens}.`);
    if (!Number.isSafeInteger(s.seed) || s.seed < 0) throw new DataError('seed', `A seed must be a whole number, 0 or more, got ${s.seed}.`);
    const resolved = resolveAll(this.bundle, next);
    this.settings = next;
    this.rows.keepLayer = next.monitorLayer;
    this.applyParams();
    return { settings: structuredClone(next), panes: resolved };
  }

  resolved(): ResolvedSettings {
    return { settings: structuredClone(this.settings), panes: resolveAll(this.bundle, this.settings) };
  }

  private applyParams(): void {
    PANE_IDS.forEach((p, r) => {
      const f = paneFeeds(this.bundle, resolvePane(this.bundle, this.settings.panes[p]));
      const row = this.rows.params[r];
      row.steer = f.steer;
      row.capAxis = f.capAxis;
      row.capTau = f.capTau;
      row.sampling = { temperature: this.settings.sampling.temperature, topK: 0, topP: this.settings.sampling.topP };
    });
  }

  private visible(): number[] {
    return PANE_IDS.flatMap((p, r) => (this.settings.panes[p].hidden ? [] : [r]));
  }

  private guard(): void {
    if (this.busy) throw new DataError('busy', 'The model is still answering; stop it or wait for it to finish.');
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.guard();
    this.busy = true;
    this.stopped = false;
    this.abort = new AbortController();
    try {
      return await fn();
    } finally {
      this.busy = false;
      this.abort = null;
    }
  }

  /** Ends the running answer (or replay) after the current step; the partial answers are kept. */
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private userTurns(): string[] {
    // The user stream is shared: read it from the first pane (every pane holds the same user turns).
    return this.rows.messages(0).filter((m) => m.role === 'user').map((m) => m.content);
  }

  private base(): RowMessage[] {
    return this.settings.system ? [{ role: 'system', content: this.settings.system }] : [];
  }

  /** Send a user turn: every visible pane answers, as rows of one batched run. */
  send(userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    return this.exclusive(async () => {
      await this.sendOne(userText, onEvent);
      return this.snapshot();
    });
  }

  /** Run `fn` on the rows' messages; if it fails, the messages are put back as they were (nothing the person had is lost). */
  private async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const saved = PANE_IDS.map((_, r) => this.rows.messages(r).slice());
    const systemUsed = this.systemUsed;
    const ran = new Set(this.ran);
    try {
      return await fn();
    } catch (e) {
      saved.forEach((m, r) => this.rows.setMessages(r, m));
      this.systemUsed = systemUsed;
      this.ran = ran;
      throw e;
    }
  }

  /** Refuse, before anything changes, a conversation longer than the model takes. */
  private checkLength(row: number, generationPrompt: boolean, extra = 0): void {
    const max = this.model.maxPositions;
    if (!max) return;
    const n = this.rows.chat(row, generationPrompt).ids.length;
    if (n + extra > max) {
      throw new DataError('too-long', `The conversation would be ${n + extra} tokens (with room for the answer) and this model takes at most ${max}; undo a turn, lower max tokens, or reset.`);
    }
  }

  private sendOne(userText: string, onEvent?: (e: ChatEvent) => void): Promise<void> {
    return this.transaction(() => this.sendInner(userText, onEvent));
  }

  private async sendInner(userText: string, onEvent?: (e: ChatEvent) => void): Promise<void> {
    if (!userText.trim()) throw new DataError('empty-message', 'Write a message first.');
    const rows = this.visible();
    if (!rows.length) throw new DataError('no-panes', 'Every pane is hidden; show at least one.');
    const sys = this.settings.system;
    for (let r = 0; r < PANE_IDS.length; r++) {
      const m = this.rows.messages(r);
      // A changed system prompt takes effect here (the cache is kept up to where the text changed).
      if (sys !== this.systemUsed || !m.length) {
        const rest = m[0]?.role === 'system' && sys !== this.systemUsed ? m.slice(1) : m;
        this.rows.setMessages(r, rest[0]?.role === 'system' || !sys ? rest : [...this.base(), ...rest]);
      }
      this.rows.push(r, { role: 'user', content: userText });
    }
    this.systemUsed = sys;
    // A pane shown again first answers the turns it missed while hidden (so it has no gap).
    await this.catchUpInner(rows, onEvent, 1);
    for (const r of rows) this.checkLength(r, true, this.settings.sampling.maxTokens);
    for (const r of rows) this.ran.add(PANE_IDS[r]);
    await this.answerRows(rows, onEvent);
    if (this.opts.autoRead !== false) await this.rows.read(rows);
  }

  /**
   * Each visible pane answers the user turns it missed while it was hidden (its messages hold them
   * unanswered), in order, rows missing the same turn batched together; nothing else changes.
   */
  catchUp(onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    return this.exclusive(async () => {
      await this.transaction(() => this.catchUpInner(this.visible(), onEvent, 0));
      return this.snapshot();
    });
  }

  /** The rows answer their last user turn together, streaming token / value / done events per pane. */
  private async answerRows(rows: readonly number[], onEvent: ((e: ChatEvent) => void) | undefined): Promise<void> {
    const turn = new Map(rows.map((r) => [r, this.rows.messages(r).filter((m) => m.role === 'assistant').length]));
    const res = await this.rows.answer(rows, {
      maxTokens: this.settings.sampling.maxTokens,
      seed: this.settings.sampling.seed,
      signal: this.abort?.signal,
      onToken: (row, e) => {
        if (!e.stop) onEvent?.({ kind: 'token', pane: PANE_IDS[row], turn: turn.get(row)!, index: e.index, id: e.id, text: e.text, projections: e.projections, clamped: e.clamped });
      },
      onValue: (row, e) => onEvent?.({ kind: 'value', pane: PANE_IDS[row], turn: turn.get(row)!, index: e.index, projections: e.projections, clamped: e.clamped }),
    });
    for (const [r, a] of res) onEvent?.({ kind: 'done', pane: PANE_IDS[r], turn: turn.get(r)!, stopReason: a.stopReason });
  }

  /** `pendingTail`: how many trailing user turns are not to be answered here (the one being sent). */
  private async catchUpInner(rows: readonly number[], onEvent: ((e: ChatEvent) => void) | undefined, pendingTail: number): Promise<void> {
    const gaps = new Map<number, { users: RowMessage[]; tail: RowMessage[] }>();
    for (const r of rows) {
      const m = this.rows.messages(r);
      const end = m.length - pendingTail;
      // The first user message (before the tail) not followed by an answer.
      const i = m.findIndex((x, k) => k < end && x.role === 'user' && (k + 1 >= end || m[k + 1].role !== 'assistant'));
      if (i < 0) continue;
      gaps.set(r, { users: m.slice(i, end).filter((x) => x.role === 'user'), tail: m.slice(end) });
      this.rows.setMessages(r, m.slice(0, i));
    }
    if (!gaps.size) return;
    const most = Math.max(...[...gaps.values()].map((g) => g.users.length));
    // Step k: every row still missing answers takes its next user turn; those that have one answer together.
    for (let k = 0; k < most; k++) {
      const now = [...gaps].filter(([, g]) => k < g.users.length).map(([r]) => r);
      for (const r of now) {
        this.rows.push(r, gaps.get(r)!.users[k]);
        this.checkLength(r, true, this.settings.sampling.maxTokens);
      }
      if (this.stopped) throw new DataError('aborted', 'Stopped before the pane caught up; its messages are as they were.');
      await this.answerRows(now, onEvent);
    }
    for (const [r, g] of gaps) for (const t of g.tail) this.rows.push(r, t);
    const caught = [...gaps.keys()];
    for (const r of caught) this.ran.add(PANE_IDS[r]);
    if (this.opts.autoRead !== false) await this.rows.read(caught);
  }

  /** Replay user turns one by one (the answers are this model's); Stop ends the replay. */
  replay(userTurns: readonly string[], onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    return this.exclusive(async () => {
      for (const u of userTurns) {
        if (this.stopped) break;
        if (!u.trim()) continue;
        await this.sendOne(u, onEvent);
      }
      return this.snapshot();
    });
  }

  /** Drop the last exchange (user turn and answers); returns the user text. */
  undo(): { userText: string; snapshot: ChatSnapshot } {
    this.guard();
    const users = this.userTurns();
    if (!users.length) throw new DataError('nothing-to-undo', 'There is nothing to undo yet.');
    const userText = users[users.length - 1];
    for (let r = 0; r < PANE_IDS.length; r++) {
      const m = this.rows.messages(r);
      let cut = m.length;
      while (cut > 0 && m[cut - 1].role !== 'user') cut--;
      this.rows.setMessages(r, m.slice(0, Math.max(0, cut - 1)));
    }
    return { userText, snapshot: this.snapshot() };
  }

  /** Replace user turn `userTurn` (0-based among user messages), drop everything after it, answer again. */
  edit(userTurn: number, userText: string, onEvent?: (e: ChatEvent) => void): Promise<ChatSnapshot> {
    this.guard();
    const n = this.userTurns().length;
    if (!Number.isInteger(userTurn) || userTurn < 0 || userTurn >= n) throw new DataError('edit-turn', `There is no user turn ${userTurn + 1}; the conversation has ${n}.`);
    for (let r = 0; r < PANE_IDS.length; r++) {
      const m = this.rows.messages(r);
      let seen = -1;
      const cut = m.findIndex((x) => x.role === 'user' && ++seen === userTurn);
      this.rows.setMessages(r, m.slice(0, cut));
    }
    return this.send(userText, onEvent);
  }

  /** A fresh conversation (settings kept). */
  reset(): ChatSnapshot {
    this.guard();
    this.rows.reset();
    this.ran.clear();
    this.systemUsed = '';
    return this.snapshot();
  }

  /**
   * Teacher-force a whole transcript (answers included) in every visible pane, through that pane's
   * settings, and through the unmodified model; nothing is generated.
   */
  readTranscript(messages: readonly { role: string; content: string }[]): Promise<ChatSnapshot> {
    return this.exclusive(async () => {
      const msgs = checkMessages(messages);
      const withSystem = msgs[0]?.role === 'system' || !this.settings.system ? msgs : [...this.base(), ...msgs];
      const rows = this.visible();
      if (!rows.length) throw new DataError('no-panes', 'Every pane is hidden; show at least one.');
      const max = this.model.maxPositions;
      if (max) {
        const n = templatedChat(this.model.tokenizer, withSystem, { addGenerationPrompt: false }).ids.length;
        if (n > max) throw new DataError('too-long', `The transcript is ${n} tokens in this model's chat template and the model takes at most ${max}; read fewer messages.`);
      }
      this.rows.reset();
      this.ran.clear();
      for (const r of rows) {
        this.rows.setMessages(r, withSystem);
        this.ran.add(PANE_IDS[r]);
      }
      this.systemUsed = this.settings.system;
      await this.rows.feed(rows, this.abort?.signal);
      await this.rows.read(rows, this.abort?.signal);
      return this.snapshot();
    });
  }

  /** Recompute every pane's cache under the current settings (answers keep their values as generated). */
  recompute(): Promise<ChatSnapshot> {
    return this.exclusive(async () => {
      await this.rows.recompute(this.abort?.signal);
      return this.snapshot();
    });
  }

  /** Per assistant turn of a pane: mean resid_post at the monitored layer over its content tokens. */
  turnVectors(pane: PaneId, mode: 'generated' | 'read'): Promise<{ layer: number; vectors: (Float32Array | null)[] }> {
    return this.exclusive(async () => ({ layer: this.settings.monitorLayer, vectors: await this.rows.turnVectors(PANE_IDS.indexOf(pane), mode) }));
  }

  private texts = new Map<number, string>();
  /** One token's text (memoised: snapshots show every token of every pane). */
  private tokenText(id: number): string {
    let t = this.texts.get(id);
    if (t === undefined) {
      t = this.model.tokenizer.decode([id], false);
      if (this.texts.size > 200_000) this.texts.clear();
      this.texts.set(id, t);
    }
    return t;
  }

  snapshot(): ChatSnapshot {
    const panes = {} as Record<PaneId, PaneSnapshot | null>;
    PANE_IDS.forEach((p, r) => {
      if (!this.ran.has(p)) {
        panes[p] = null;
        return;
      }
      const v = this.rows.view(r);
      const messages: ChatMessageView[] = v.messages.map(({ m, span, generated, read, tokens }) => ({
        role: m.role,
        content: m.content,
        span,
        tokens: tokens.map((id) => ({ id, text: this.tokenText(id) })),
        generated,
        read,
        ...(m.stopReason ? { stopReason: m.stopReason } : {}),
      }));
      panes[p] = { ids: v.chat?.ids ?? [], messages, clampedTotal: v.clampedTotal };
    });
    return { settings: structuredClone(this.settings), layers: this.model.numLayers, panes, busy: this.busy };
  }

  dispose(): void {
    this.stop();
    this.rows.dispose();
  }
}

export function checkMessages(messages: readonly { role: string; content: string }[]): RowMessage[] {
  if (!Array.isArray(messages) || !messages.length) throw new DataError('transcript-empty', 'The transcript has no messages.');
  return messages.map((m, i) => {
    if (!m || (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') || typeof m.content !== 'string') {
      throw new DataError('transcript-message', `Message ${i + 1} of the transcript needs a role (system, user or assistant) and a text content.`);
    }
    return { role: m.role, content: m.content };
  });
}

/**
 * Settings with a patch applied: fields merge (a steer / cap patch onto the pane's current one, or
 * onto the lab's default one when the pane had none); `null` switches steering or the cap off.
 */
export function mergeSettings(s: ChatSettings, patch: ChatSettingsPatch, defaults?: ChatSettings): ChatSettings {
  const out = structuredClone(s);
  const dflt = defaults ?? s;
  if (patch.system !== undefined) out.system = patch.system;
  if (patch.monitorLayer !== undefined) out.monitorLayer = patch.monitorLayer;
  if (patch.sampling) Object.assign(out.sampling, patch.sampling);
  for (const p of PANE_IDS) {
    const pp = patch.panes?.[p];
    if (!pp) continue;
    if (pp.steer !== undefined) {
      const base = out.panes[p].steer ?? dflt.panes.steered.steer ?? { layers: [dflt.monitorLayer], amount: 0, unit: 'raw' as const };
      out.panes[p].steer = pp.steer && { ...base, ...pp.steer };
    }
    if (pp.cap !== undefined) {
      const base = out.panes[p].cap ?? dflt.panes.capped.cap ?? { layers: [dflt.monitorLayer], threshold: { kind: 'fixed' as const, tau: 0 } };
      out.panes[p].cap = pp.cap && { ...base, ...pp.cap };
    }
    if (pp.hidden !== undefined) out.panes[p].hidden = pp.hidden;
  }
  return out;
}
