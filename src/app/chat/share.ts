/**
 * The chat lab's share link, in the URL's hash:
 * `#tab=chat&model=hub:onnx-community/Qwen3-0.6B-ONNX@q4f16&axis=file:assistant_axis.pt&cfg=<json>&conv=<json>&ax=<float32 base64url>`
 * `model` restores the model, `axis` says where the axis came from (a file must be opened again unless
 * the axis is small enough to ride in `ax`), `cfg` the settings, `conv` the user turns (when short).
 * Anything missing or malformed is ignored.
 */
import type { ChatSettings, ChatSettingsPatch } from './api';
import { decodeAxis, encodeAxis } from './axis-file';
import type { PendingLink } from './store';

/** Conversations longer than this (characters of user text) are not put in links. */
export const MAX_LINK_CONVERSATION = 2000;
/** Axes up to this many floats ride in the link (the synthetic model's 4 x 64 does; real models' do not). */
export const MAX_LINK_AXIS = 4096;

export interface ChatLinkInput {
  model: string | null;
  axisSource: string | null;
  axis: Float32Array | null;
  settings: ChatSettings | null;
  userTurns: string[];
}

export function isChatHash(hash: string): boolean {
  return /(^#?|&)tab=chat(&|$)/.test(hash) && /(^#?|&)(model|cfg|conv)=/.test(hash);
}

export function encodeChatLink(v: ChatLinkInput): string {
  const parts: string[] = [];
  if (v.model) parts.push(`model=${encodeURIComponent(v.model)}`);
  if (v.axisSource) parts.push(`axis=${encodeURIComponent(v.axisSource)}`);
  if (v.settings) parts.push(`cfg=${encodeURIComponent(JSON.stringify(v.settings))}`);
  const chars = v.userTurns.reduce((n, t) => n + t.length, 0);
  if (v.userTurns.length > 0 && chars <= MAX_LINK_CONVERSATION) parts.push(`conv=${encodeURIComponent(JSON.stringify(v.userTurns))}`);
  if (v.axis && v.axis.length <= MAX_LINK_AXIS) parts.push(`ax=${encodeAxis(v.axis)}`);
  parts.push('tab=chat');
  return parts.join('&');
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

export function decodeChatLink(hash: string): PendingLink | null {
  const body = hash.replace(/^#/, '');
  if (!isChatHash(body)) return null;
  const out: PendingLink = { model: null, axis: null, settings: null, conversation: null, inlineAxis: null };
  for (const part of body.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq), raw = part.slice(eq + 1);
    if (key === 'model') out.model = safeDecode(raw);
    else if (key === 'axis') out.axis = safeDecode(raw);
    else if (key === 'cfg') {
      const v = safeJson(raw);
      if (v && typeof v === 'object' && !Array.isArray(v)) out.settings = sanitizeSettings(v as Record<string, unknown>);
    } else if (key === 'conv') {
      const v = safeJson(raw);
      if (Array.isArray(v) && v.every((t) => typeof t === 'string') && v.length <= 200) out.conversation = v as string[];
    } else if (key === 'ax') out.inlineAxis = decodeAxis(raw, MAX_LINK_AXIS);
  }
  return out;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const layers = (v: unknown): number[] | undefined => (Array.isArray(v) && v.length <= 1024 && v.every((x) => Number.isInteger(x) && x >= 0) ? (v as number[]) : undefined);

/** Keep only well-formed fields of a linked settings object (the worker checks ranges again). */
export function sanitizeSettings(o: Record<string, unknown>): ChatSettingsPatch {
  const out: ChatSettingsPatch = {};
  if (typeof o.system === 'string' && o.system.length <= 20_000) out.system = o.system;
  if (num(o.monitorLayer) !== undefined && Number.isInteger(o.monitorLayer)) out.monitorLayer = o.monitorLayer as number;
  const s = o.sampling as Record<string, unknown> | undefined;
  if (s && typeof s === 'object') {
    out.sampling = {};
    for (const k of ['temperature', 'topP', 'maxTokens', 'seed'] as const) if (num(s[k]) !== undefined) out.sampling[k] = s[k] as number;
  }
  const panes = o.panes as Record<string, Record<string, unknown>> | undefined;
  if (panes && typeof panes === 'object') {
    out.panes = {};
    for (const id of ['default', 'steered', 'capped'] as const) {
      const p = panes[id];
      if (!p || typeof p !== 'object') continue;
      const q: NonNullable<NonNullable<ChatSettingsPatch['panes']>['default']> = {};
      if (typeof p.hidden === 'boolean') q.hidden = p.hidden;
      const st = p.steer as Record<string, unknown> | null | undefined;
      if (st === null) q.steer = null;
      else if (st && layers(st.layers) && num(st.amount) !== undefined && (st.unit === 'sd' || st.unit === 'raw')) q.steer = { layers: st.layers as number[], amount: st.amount as number, unit: st.unit };
      const cp = p.cap as Record<string, unknown> | null | undefined;
      if (cp === null) q.cap = null;
      else if (cp && layers(cp.layers)) {
        const th = cp.threshold as Record<string, unknown> | undefined;
        if (th?.kind === 'percentile' && num(th.p) !== undefined) q.cap = { layers: cp.layers as number[], threshold: { kind: 'percentile', p: th.p as number } };
        else if (th?.kind === 'fixed' && num(th.tau) !== undefined) q.cap = { layers: cp.layers as number[], threshold: { kind: 'fixed', tau: th.tau as number } };
      }
      out.panes[id] = q;
    }
  }
  return out;
}
