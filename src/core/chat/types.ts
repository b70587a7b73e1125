/**
 * The chat lab's vocabulary (shared by the core session, the model worker, the page and the CLI).
 * Three panes — Default | Steered | Capped — share one user stream and run as rows of one batch.
 */
import type { ChatRole } from '../lm/tokenizer';

export type PaneId = 'default' | 'steered' | 'capped';
export const PANE_IDS: readonly PaneId[] = ['default', 'steered', 'capped'];

/**
 * Steering along the axis at `layers`: adds alpha[L] * axis[L]/|axis[L]| to resid_post[L].
 * unit 'sd': alpha[L] = amount x the sd of the role projections at L (AxisBundle.roleStats);
 * unit 'raw': the reference code's coefficient c on the raw axis, alpha[L] = c * |axis[L]|.
 * Negative amounts push toward role-play.
 */
export interface SteerSettings {
  layers: number[];
  amount: number;
  unit: 'sd' | 'raw';
}

export type CapThreshold = { kind: 'percentile'; p: number } | { kind: 'fixed'; tau: number };

/** A floor along the Assistant direction at `layers`: h += relu(tau[L] - h.a) a. */
export interface CapSettings {
  layers: number[];
  threshold: CapThreshold;
}

export interface PaneSettings {
  steer: SteerSettings | null;
  cap: CapSettings | null;
  hidden: boolean;
}

export interface ChatSampling {
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

export interface ChatSettings {
  /** '' = no system message. */
  system: string;
  sampling: ChatSampling;
  /** The layer the drift lane and the heat view show. */
  monitorLayer: number;
  panes: Record<PaneId, PaneSettings>;
}

export type ChatSettingsPatch = {
  system?: string;
  sampling?: Partial<ChatSampling>;
  monitorLayer?: number;
  /** A steer / cap patch merges into the pane's current one (or the default one); null switches it off. */
  panes?: Partial<Record<PaneId, { steer?: Partial<SteerSettings> | null; cap?: Partial<CapSettings> | null; hidden?: boolean }>>;
};

/** One pane's settings as numbers fed to the model. */
export interface ResolvedPane {
  /** Per layer: added length along the unit axis (residual-stream units); null = not steered. */
  steerAlpha: (number | null)[];
  /** Per layer: the reference code's raw coefficient c (alpha / |axis[L]|); null = not steered. */
  steerRaw: (number | null)[];
  /** Per layer: the cap floor; null = not capped. */
  capTau: (number | null)[];
}

export interface ResolvedSettings {
  settings: ChatSettings;
  panes: Record<PaneId, ResolvedPane>;
}

/** Values of a run of tokens under one reading. */
export interface SpanValues {
  /** Per token, per layer: resid_post[L] . axis[L]/|axis[L]| at the token's own position. */
  perToken: Float32Array[];
  /** Per layer: the mean over the span (null when the span is empty). */
  mean: number[] | null;
  /** (layer, token) positions the cap raised inside the span. */
  clamped: number;
  /**
   * The same values just before the cap at each capped layer (the cap's lift taken back out;
   * earlier layers' caps and the steering still in): differs from `perToken` only where the cap
   * acted. Null when the cap did not act in the span (then it equals `perToken`).
   */
  preCap?: { perToken: Float32Array[]; mean: number[] | null } | null;
}

export interface ChatMessageView {
  role: ChatRole;
  content: string;
  /** Content tokens as positions in the pane's `ids`, [start, end). */
  span: [number, number];
  tokens: { id: number; text: string }[];
  /** As generated (assistant answers: the values while they were produced, frozen); otherwise as last fed through this pane's row. */
  generated: SpanValues | null;
  /** Teacher-forced through the Default (unmodified) row. */
  read: SpanValues | null;
  stopReason?: string;
}

export interface PaneSnapshot {
  ids: number[];
  messages: ChatMessageView[];
  /** (layer, token) positions the cap raised in this pane so far. */
  clampedTotal: number;
}

export interface ChatSnapshot {
  settings: ChatSettings;
  layers: number;
  panes: Record<PaneId, PaneSnapshot | null>;
  busy: boolean;
}

export type ChatEvent =
  | {
      kind: 'token';
      pane: PaneId;
      /** 0-based index among assistant messages. */
      turn: number;
      index: number;
      id: number;
      text: string;
      /** Per layer, at the position whose pass chose this token (a settings change shows in the next event). */
      projections: Float32Array | null;
      /** How many layers the cap raised at that position. */
      clamped: number;
    }
  | { kind: 'value'; pane: PaneId; turn: number; index: number; projections: Float32Array; clamped: number }
  | { kind: 'done'; pane: PaneId; turn: number; stopReason: string };
