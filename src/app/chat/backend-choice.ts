/**
 * Which backend the chat lab asks the model worker for: `auto` (the worker's rules in
 * src/core/lm/adapter.ts and workers/model-load.ts: WebGPU on a hardware adapter, else WASM),
 * `webgpu` (even a software adapter; an error when there is none) or `wasm`. Remembered for the
 * browser session (sessionStorage), not put in share links: it describes this machine, not the
 * experiment, and a link that forced WebGPU would fail on a machine without it.
 */
import { softwareAdapter, usesWebGpu, type GpuAdapterLike } from '../../core/lm/adapter';
import type { DeviceRequest } from '../../../workers/model-protocol';

export type BackendChoice = DeviceRequest;

export const BACKEND_CHOICES: readonly { value: BackendChoice; label: string; title: string }[] = [
  { value: 'auto', label: 'auto', title: 'WebGPU on a hardware GPU, else WASM (a software WebGPU adapter is slower than WASM)' },
  { value: 'webgpu', label: 'WebGPU', title: 'WebGPU even on a software adapter; loading fails, saying why, where there is none' },
  { value: 'wasm', label: 'WASM', title: 'The CPU build (threads when the page is cross-origin isolated): the same numbers, slower than a GPU' },
];

const KEY = 'persona-space.chat.backend';

/** A stored or typed value -> a choice (anything else is `auto`). */
export function parseBackendChoice(v: unknown): BackendChoice {
  return v === 'webgpu' || v === 'wasm' ? v : 'auto';
}

type SessionStore = Pick<Storage, 'getItem' | 'setItem'>;

function session(): SessionStore | null {
  try {
    return typeof sessionStorage === 'undefined' ? null : sessionStorage;
  } catch {
    return null; // storage blocked (privacy settings): the choice lasts as long as the page
  }
}

/** The choice remembered for this browser session (`auto` when none). */
export function readBackendChoice(store: SessionStore | null = session()): BackendChoice {
  try {
    return parseBackendChoice(store?.getItem(KEY));
  } catch {
    return 'auto';
  }
}

export function saveBackendChoice(choice: BackendChoice, store: SessionStore | null = session()): void {
  try {
    store?.setItem(KEY, choice);
  } catch {
    // A full or blocked storage keeps the choice for this page only.
  }
}

export interface PlannedBackend {
  backend: 'webgpu' | 'wasm';
  shaderF16: boolean;
  /** Why the plan differs from the choice (WebGPU asked for, no adapter), else null. */
  note: string | null;
}

/**
 * The backend a choice gets on this page's adapter (null: no WebGPU), judged as the worker judges
 * it, for the picker's download and memory figures.
 */
export function plannedBackend(choice: BackendChoice, adapter: GpuAdapterLike | null): PlannedBackend {
  if (adapter && usesWebGpu(choice, { software: softwareAdapter(adapter) !== null })) return { backend: 'webgpu', shaderF16: adapter.features.has('shader-f16'), note: null };
  const note = !adapter && choice === 'webgpu' ? 'This browser offers no WebGPU adapter, so a WebGPU load will fail; sizes are for WASM.' : null;
  return { backend: 'wasm', shaderF16: false, note };
}
