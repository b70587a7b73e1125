/**
 * Test page for the model worker (e2e/runtime.spec.ts drives it with page.evaluate). It only wires
 * window functions to the worker client; Float32Arrays are passed as plain arrays from the test.
 */
import { createModelClient, type GenerateRequest, type ModelInfo, type WorkerGenerateResult } from '../../workers/model-client';
import type { LiveParams, TokenEvent } from '../../src/core/lm/generate';
import type { ModelLoadProgress, ModelSource } from '../../src/core/lm/model-source';

type PlainParams = { steer?: number[]; capAxis?: number[]; capTau?: number[]; axis?: number[]; sampling?: LiveParams['sampling'] };

function toLive(p: PlainParams = {}): Partial<LiveParams> {
  const out: Partial<LiveParams> = {};
  if (p.steer) out.steer = Float32Array.from(p.steer);
  if (p.capAxis) out.capAxis = Float32Array.from(p.capAxis);
  if (p.capTau) out.capTau = Float32Array.from(p.capTau, (x) => (x === null ? -Infinity : x));
  if (p.axis) out.axis = Float32Array.from(p.axis);
  if (p.sampling) out.sampling = p.sampling;
  return out;
}

interface PlainEvent { index: number; id: number; text: string; projections: number[] | null; stop: boolean }

const client = createModelClient();
const status = document.getElementById('status')!;
const state = {
  progress: [] as ModelLoadProgress[],
  events: [] as PlainEvent[],
  running: null as Promise<WorkerGenerateResult> | null,
};

const api = {
  async load(source: ModelSource, device: 'auto' | 'wasm' | 'webgpu' = 'auto'): Promise<ModelInfo> {
    const info = await client.load(source, { device }, (p) => state.progress.push(p));
    status.textContent = `${info.label}\n${info.backend}: ${info.reason}`;
    return info;
  },
  progressCount: () => state.progress.length,
  /** Start a generation; events accumulate in order (read them with events()). */
  start(req: Omit<GenerateRequest, 'params'> & { params?: PlainParams }): void {
    state.events = [];
    const onToken = (e: TokenEvent) => {
      state.events.push({ index: e.index, id: e.id, text: e.text, projections: e.projections ? Array.from(e.projections) : null, stop: e.stop });
    };
    state.running = client.generate({ ...req, params: toLive(req.params) as LiveParams }, onToken);
    state.running.catch(() => {});
  },
  events: () => state.events,
  async finish(): Promise<Omit<WorkerGenerateResult, 'projections'> & { projections: (number[] | null)[] }> {
    const r = await state.running!;
    return { ...r, projections: r.projections.map((p) => (p ? Array.from(p) : null)) };
  },
  setParams: (p: PlainParams) => client.setParams(toLive(p)),
  interrupt: () => client.interrupt(),
  crossOriginIsolated: () => self.crossOriginIsolated,
  chatPrompt: (messages: { role: 'system' | 'user' | 'assistant'; content: string }[]) => client.chatPrompt(messages),
  /** Teacher-forced projections at every position of `ids` (drift). */
  async forward(ids: number[], axis: number[]): Promise<number[][] | null> {
    const r = await client.forward({ ids, params: { axis: Float32Array.from(axis) } });
    return r.projections ? r.projections.map((p) => Array.from(p)) : null;
  },
};

(window as unknown as { runtime: typeof api }).runtime = api;
// The client itself, for e2e/chat-worker.spec.ts (the chat lab's worker API in a real browser).
(window as unknown as { modelClient: typeof client }).modelClient = client;
status.textContent = 'ready';
