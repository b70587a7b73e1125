/**
 * The conversation as JSON: every pane's messages, token ids, per-token and per-turn values (as
 * generated — after the pane's own steering and cap, i.e. post-cap — and as read by the unmodified
 * model, i.e. with no steering and no cap), the settings with their raw numbers, the model and the
 * axis it was measured on.
 */
import type { AxisBundle } from '../persona/axis-bundle';
import type { ChatSnapshot, PaneId, ResolvedPane, SpanValues } from './types';
import { PANE_IDS } from './types';

export const CHAT_EXPORT_FORMAT = 'persona-space-chat';

const r6 = (x: number) => Math.round(x * 1e6) / 1e6;

const rows = (rs: readonly Float32Array[]) => rs.map((row) => Array.from(row, r6));

function values(v: SpanValues | null) {
  if (!v) return null;
  return { per_token: rows(v.perToken), mean: v.mean ? v.mean.map(r6) : null, clamped: v.clamped };
}

/** As generated, with `pre_cap`: the values just before the cap at capped layers (post-cap minus the cap's lift). */
function generatedValues(v: SpanValues | null) {
  const out = values(v);
  if (!out || !v) return out;
  const pre = v.preCap ?? { perToken: v.perToken, mean: v.mean };
  return { ...out, pre_cap: { per_token: rows(pre.perToken), mean: pre.mean ? pre.mean.map(r6) : null } };
}

export interface ChatExportContext {
  model: { id: string; file?: string | null; backend?: string; dtype?: string };
  axis: Pick<AxisBundle, 'label' | 'source' | 'numLayers' | 'hiddenSize'>;
  resolved: Record<PaneId, ResolvedPane>;
  /** E.g. the preset replayed and its credit line. */
  source?: { preset?: string; label?: string; credit?: string } | null;
}

export function chatExport(snap: ChatSnapshot, ctx: ChatExportContext) {
  const panes: Record<string, unknown> = {};
  for (const p of PANE_IDS) {
    const ps = snap.panes[p];
    if (!ps) continue;
    panes[p] = {
      settings: snap.settings.panes[p],
      resolved: { steer_alpha: ctx.resolved[p].steerAlpha, steer_raw_coefficient: ctx.resolved[p].steerRaw, cap_tau: ctx.resolved[p].capTau },
      ids: ps.ids,
      clamped_total: ps.clampedTotal,
      messages: ps.messages.map((m) => ({
        role: m.role,
        content: m.content,
        span: m.span,
        token_ids: m.tokens.map((t) => t.id),
        tokens: m.tokens.map((t) => t.text),
        generated: generatedValues(m.generated),
        read: values(m.read),
        ...(m.stopReason ? { stop_reason: m.stopReason } : {}),
      })),
    };
  }
  return {
    format: CHAT_EXPORT_FORMAT,
    version: 1,
    model: ctx.model,
    axis: { label: ctx.axis.label, source: ctx.axis.source, layers: ctx.axis.numLayers, hidden_size: ctx.axis.hiddenSize },
    monitor_layer: snap.settings.monitorLayer,
    system: snap.settings.system,
    sampling: snap.settings.sampling,
    values:
      'projection of resid_post[L] on axis[L]/|axis[L]| (raw, not centred), per token at its own position and per turn as the mean over the message content tokens; ' +
      '"generated" = through the pane\'s own steering and cap (post-cap), "generated.pre_cap" = the same positions just before the cap at each capped layer (the cap\'s lift removed; steering and earlier layers\' caps kept), "read" = the same text teacher-forced through the unmodified model (no steering, no cap).',
    ...(ctx.source ? { source: ctx.source } : {}),
    panes,
  };
}
