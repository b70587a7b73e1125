/**
 * The chat lab's view of the model worker's chat API (CHAT-CORE, /work/notes/chat-worker-api.md):
 * the types the lab renders and the one adapter it calls. Components never talk to the worker;
 * the chat store does, through `chatEngine()`.
 */
import type { ModelClient } from '../../../workers/model-client';

import type { PaneId } from '../../core/chat/types';
import { PANE_IDS } from '../../core/chat/types';

export type {
  CapSettings, ChatEvent, ChatMessageView, ChatSampling as Sampling, ChatSettings, ChatSettingsPatch, ChatSnapshot, PaneId,
  PaneSettings, PaneSnapshot, ResolvedPane, ResolvedSettings, SpanValues, SteerSettings,
} from '../../core/chat/types';

export const PANES: readonly PaneId[] = PANE_IDS;
export const PANE_LABEL: Record<PaneId, string> = { default: 'Default', steered: 'Steered', capped: 'Capped' };
/** Pane colours: on the drift lane, on the map's trajectories and on the pane headers. */
export const PANE_COLOR: Record<PaneId, string> = { default: '#1f5fa8', steered: '#c0392b', capped: '#2e7d32' };

export type { AxisSummary, PresetContent, PresetInfo } from '../../../workers/model-protocol';

/** What the lab calls: the model client (CHAT-CORE's worker API, workers/model-client.ts). */
export type ChatEngine = ModelClient;

/** Error sentence from a worker rejection (ModelWorkerError carries code + message). */
export function errorText(e: unknown): string {
  const m = (e as { message?: string })?.message;
  return typeof m === 'string' && m ? m : String(e);
}
export function errorCode(e: unknown): string {
  const c = (e as { code?: string; name?: string })?.code ?? (e as { name?: string })?.name;
  return typeof c === 'string' ? c : 'error';
}
