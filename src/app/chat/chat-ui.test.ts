/**
 * The chat lab's page-side logic without a browser: the share link round trip, the model table,
 * layer lists, and the store's streaming (a token in one pane leaves the other panes' objects as
 * they were, so their components do not re-render) against a scripted engine.
 */
import { describe, expect, it } from 'vitest';
import { MODEL_CHOICES, filesFromShape, modelFromKey, modelKey, modelPlan, parseHubInput } from './models';
import { decodeChatLink, encodeChatLink, isChatHash } from './share';
import { parseLayers, formatLayers } from './Controls';
import { mergeSettings, setChatEngineFactory, useChat } from './store';
import type { ChatEngine, ChatEvent, ChatSettings, ChatSnapshot, PaneId } from './api';

const settings = (): ChatSettings => ({
  system: '',
  sampling: { temperature: 0.7, topP: 0.9, maxTokens: 64, seed: 3 },
  monitorLayer: 2,
  panes: {
    default: { steer: null, cap: null, hidden: false },
    steered: { steer: { layers: [2], amount: 0, unit: 'raw' }, cap: null, hidden: false },
    capped: { steer: null, cap: { layers: [3, 4], threshold: { kind: 'fixed', tau: 1 } }, hidden: false },
  },
});

describe('share link', () => {
  it('round-trips model, axis source, settings, conversation and a small axis', () => {
    const axis = Float32Array.from({ length: 6 * 64 }, (_, i) => Math.sin(i));
    const hash = encodeChatLink({ model: 'hub:org/m-ONNX@q4', axisSource: 'file:assistant_axis.pt', axis, settings: settings(), userTurns: ['hi & bye', 'why?'] });
    expect(isChatHash(hash)).toBe(true);
    const back = decodeChatLink(`#${hash}`)!;
    expect(back.model).toBe('hub:org/m-ONNX@q4');
    expect(back.axis).toBe('file:assistant_axis.pt');
    expect(back.conversation).toEqual(['hi & bye', 'why?']);
    expect(Array.from(back.inlineAxis!)).toEqual(Array.from(axis));
    expect(back.settings?.panes?.capped?.cap).toEqual({ layers: [3, 4], threshold: { kind: 'fixed', tau: 1 } });
    expect(back.settings?.sampling?.seed).toBe(3);
  });
  it('leaves long conversations and big axes out, ignores junk, and is not the explorer\'s link', () => {
    const hash = encodeChatLink({ model: 'synthetic', axisSource: 'x', axis: new Float32Array(5000), settings: null, userTurns: ['a'.repeat(3000)] });
    const back = decodeChatLink(hash)!;
    expect(back.conversation).toBeNull();
    expect(back.inlineAxis).toBeNull();
    expect(decodeChatLink('#src=release%3Aqwen&layer=3')).toBeNull();
    expect(decodeChatLink('#tab=chat&model=synthetic&cfg=%7Bbad&conv=%5B1%5D')!.settings).toBeNull();
  });
});

describe('model table', () => {
  it('sizes are the load-time weights choice (pick.ts): the hub listing for Qwen3, the shape for the rest; fp16 on WASM says why not', () => {
    const qwen = MODEL_CHOICES.find((m) => m.id === 'qwen3-0.6b')!;
    const q8 = modelPlan(qwen, 'q8', 'wasm');
    expect(q8.listed).toBe(true);
    expect(q8.choice).toMatchObject({ file: 'onnx/model_quantized.onnx', downloadBytes: 754e6 });
    // Memory: the wasm heap's peak (pick.ts wasmHeapEstimate): at session creation ~3.1x the weights file, or running, the weights
    // + three panes x 2,048 tokens of fp32 KV cache (28 layers x 2 x 8 heads x 128) + working memory.
    const kv = 3 * 2048 * 28 * 2 * 8 * 128 * 4;
    expect(q8.choice!.memoryBytes).toBeGreaterThan(Math.max(3.1 * 754e6, 754e6 + kv));
    expect(q8.choice!.memoryBytes).toBeLessThan(3.1 * 754e6 + kv + 400e6);
    // q4 asked for on WASM with three panes: converting to fp32 would not fit the wasm32 heap, so it loads as is (and says it is slow).
    const q4 = modelPlan(qwen, 'q4', 'wasm').choice!;
    expect(q4.convert).toBeNull();
    expect(q4.reason).toMatch(/MatMulNBits/);
    expect(q4.memoryBytes).toBeGreaterThan(919e6 + kv);
    const f16 = modelPlan(qwen, 'fp16', 'wasm');
    expect(f16.choice).toBeNull();
    expect(f16.error).toMatch(/WASM/);
    expect(modelPlan(qwen, 'fp16', 'webgpu', true).choice!.downloadBytes).toBe(1504.5e6);
    for (const m of MODEL_CHOICES.filter((x) => !x.files)) {
      const files = filesFromShape(m.config);
      const size = (d: string) => files.find((f) => f.path === `onnx/${d}.onnx`)!.size;
      expect(size('model_q4')).toBeLessThan(size('model_fp16'));
      expect(size('model_fp16')).toBeLessThan(size('model'));
      // (a q8 file too large for the wasm32 heap at session creation is refused with the limit named)
      const plan = modelPlan(m, 'q8', 'wasm');
      if (plan.choice) expect(plan.choice.memoryBytes).toBeGreaterThan(size('model_quantized'));
      else expect(plan.error).toMatch(/would need ~\d+\.\d GB, over the 4\.3 GB a wasm32 heap can hold/);
    }
    // Llama 3.2 1B: 1.24 B parameters, about 5 GB in fp32.
    const llama = filesFromShape(MODEL_CHOICES.find((m) => m.id === 'llama-3.2-1b')!.config).find((f) => f.path === 'onnx/model.onnx')!.size;
    expect(llama / 1e9).toBeGreaterThan(4.6);
    expect(llama / 1e9).toBeLessThan(5.2);
  });
  it('reads hub ids and URLs', () => {
    expect(parseHubInput('onnx-community/Qwen3-0.6B-ONNX')).toEqual({ repo: 'onnx-community/Qwen3-0.6B-ONNX' });
    expect(parseHubInput('https://huggingface.co/org/name/tree/dev')).toEqual({ repo: 'org/name', hub: undefined, revision: 'dev' });
    expect(parseHubInput('http://127.0.0.1:5555/org/name')).toEqual({ repo: 'org/name', hub: 'http://127.0.0.1:5555', revision: undefined });
    expect(parseHubInput('not a model')).toBeNull();
    expect(modelFromKey(modelKey({ kind: 'hub', repo: 'a/b', dtype: 'q4f16', hub: 'http://h:1' })!)).toEqual({ kind: 'hub', repo: 'a/b', dtype: 'q4f16', hub: 'http://h:1' });
    expect(modelFromKey('hub:../x@q4')).toBeNull();
  });
  it('parses layer lists', () => {
    expect(parseLayers('12-14, 3', 20)).toEqual([3, 12, 13, 14]);
    expect(parseLayers('20', 20)).toBeNull();
    expect(parseLayers('a', 20)).toBeNull();
    expect(formatLayers([3, 12, 13, 14])).toBe('3,12-14');
  });
  it('merges settings patches deeply, arrays and nulls replacing', () => {
    const s = mergeSettings(settings(), { sampling: { seed: 9 }, panes: { capped: { cap: null }, steered: { steer: { layers: [1, 2], amount: 2, unit: 'sd' } } } });
    expect(s.sampling).toEqual({ temperature: 0.7, topP: 0.9, maxTokens: 64, seed: 9 });
    expect(s.panes.capped.cap).toBeNull();
    expect(s.panes.steered.steer?.layers).toEqual([1, 2]);
    expect(s.panes.default).toEqual(settings().panes.default);
  });
});

// ---------------------------------------------------------------------------------------------

function snapshotOf(turns: { user: string; answers: Record<PaneId, number[]> }[]): ChatSnapshot {
  const panes = {} as ChatSnapshot['panes'];
  for (const p of ['default', 'steered', 'capped'] as const) {
    const messages: NonNullable<ChatSnapshot['panes']['default']>['messages'] = [];
    for (const t of turns) {
      messages.push({ role: 'user', content: t.user, span: [0, 0], tokens: [], generated: null, read: null });
      const vals = t.answers[p];
      const perToken = vals.map((v) => Float32Array.from({ length: 5 }, (_, l) => v + l));
      const mean = Array.from({ length: 5 }, (_, l) => vals.reduce((a, v) => a + v + l, 0) / vals.length);
      messages.push({ role: 'assistant', content: vals.map(String).join(' '), span: [0, vals.length], tokens: vals.map((v, i) => ({ id: i, text: `${v} ` })), generated: { perToken, mean, clamped: 0 }, read: { perToken, mean, clamped: 0 } });
    }
    panes[p] = { ids: [], messages, clampedTotal: 0 };
  }
  return { settings: settings(), layers: 5, panes, busy: false };
}

function fakeEngine(log: string[]) {
  const turns: { user: string; answers: Record<PaneId, number[]> }[] = [];
  let release: (() => void) | null = null;
  const e = {
    load: async () => ({ label: 'fake', backend: 'wasm', reason: 'test', threads: 1, numLayers: 5, hiddenSize: 8, vocabSize: 10, modelType: 'qwen3', style: 'x', residDtype: 'float32', stopIds: [], bytes: 1, loadMs: 1, warnings: [] }),
    setAxis: async () => ({ label: 'ax', source: 'file', numLayers: 5, hiddenSize: 8, norms: [1, 1, 1, 1, 1], roleMean: null, roleSd: null, defaultProjection: null, hasCalibration: false, defaultLayer: 2, defaultCapWindow: [3, 4] }),
    chatSettings: async () => ({ settings: settings(), panes: { default: { steerAlpha: [], steerRaw: [], capTau: [] }, steered: { steerAlpha: [], steerRaw: [], capTau: [] }, capped: { steerAlpha: [], steerRaw: [], capTau: [] } } }),
    chatSnapshot: async () => snapshotOf(turns),
    chatSend: async (text: string, onEvent?: (e: ChatEvent) => void) => {
      log.push(`send:${text}`);
      const turn = turns.length;
      onEvent?.({ kind: 'token', pane: 'steered', turn, index: 0, id: 1, text: 'a', projections: Float32Array.of(1, 2, 3, 4, 5), clamped: 0 });
      await new Promise<void>((r) => { release = r; });
      turns.push({ user: text, answers: { default: [1, 2], steered: [3], capped: [5, 6, 7] } });
      return snapshotOf(turns);
    },
    chatUndo: async () => {
      const t = turns.pop()!;
      return { userText: t.user, snapshot: snapshotOf(turns) };
    },
    chatStop: async () => { log.push('stop'); },
    chatTurnVectors: async () => ({ layer: 2, vectors: [] }),
    terminate: () => {},
  };
  return { engine: e as unknown as ChatEngine, finish: () => release?.() };
}

describe('chat store', () => {
  it('streams a token into one pane only, then takes the snapshot; drift points per turn per pane; undo puts the text back', async () => {
    const log: string[] = [];
    const fake = fakeEngine(log);
    setChatEngineFactory(() => fake.engine);
    const st = useChat.getState();
    await st.loadModel({ kind: 'synthetic' });
    await st.setAxis({ label: 'ax', source: 'file', numLayers: 5, hiddenSize: 8, axis: new Float32Array(40), roleStats: null, defaultProjection: null, calibration: null }, 'file:ax.npy');
    expect(useChat.getState().axis.status).toBe('ready');
    useChat.getState().setInput('hello');
    const sending = useChat.getState().send();
    // Synchronously after send(): the user's message in every pane, the streamed token still queued.
    const afterUser = useChat.getState().panes;
    expect(afterUser.steered.messages.map((m) => m.role)).toEqual(['user']);
    // The user's message shows at once; then the streamed token arrives in the Steered pane only.
    await new Promise((r) => setTimeout(r, 40));
    const mid = useChat.getState().panes;
    expect(useChat.getState().busy).toBe(true);
    expect(mid.steered.messages.at(-1)?.tokens[0].text).toBe('a');
    expect(mid.steered.streaming).toBe(true);
    expect(mid.default.messages.map((m) => m.role)).toEqual(['user']);
    // The token reached the Steered pane only: the other panes keep their objects (their components don't re-render).
    expect(mid.default).toBe(afterUser.default);
    expect(mid.capped).toBe(afterUser.capped);
    expect(mid.steered).not.toBe(afterUser.steered);
    expect(mid.steered.messages[0]).toBe(afterUser.steered.messages[0]);
    fake.finish();
    await sending;
    const s = useChat.getState();
    expect(s.busy).toBe(false);
    expect(s.turns.map((t) => `${t.pane}:${t.turn}:${t.generated![2]}`)).toEqual(['default:0:3.5', 'steered:0:5', 'capped:0:8']);
    expect(s.panes.capped.messages[1].tokens.map((t) => t.v![2])).toEqual([7, 8, 9]);
    await s.undo();
    expect(useChat.getState().turns).toEqual([]);
    expect(useChat.getState().input).toBe('hello');
    expect(log).toEqual(['send:hello']);
  });
});

describe('model-load progress (shared by the chat and extraction stores)', () => {
  it('folds per-file events, throttles mid-file updates, always passes a file\'s last chunk', async () => {
    const { trackLoadProgress } = await import('./load-progress');
    let t = 0;
    const seen: { files: number; done: number; loaded: number[] }[] = [];
    const tr = trackLoadProgress((v) => seen.push({ files: v.files.length, done: v.filesDone, loaded: v.files.map((f) => f.loaded) }), 60, () => t);
    const ev = (file: string, loaded: number, total: number | null, filesDone: number) => tr.onProgress({ file, loaded, total, filesDone, filesTotal: 2 } as never);
    ev('config.json', 10, 10, 1);
    t = 10; ev('model.onnx', 100, 1000, 1);
    t = 20; ev('model.onnx', 200, 1000, 1);
    t = 100; ev('model.onnx', 500, 1000, 1);
    t = 110; ev('model.onnx', 1000, 1000, 2);
    expect(seen.map((x) => x.loaded)).toEqual([[10], [10, 500], [10, 1000]]);
    expect(seen.at(-1)!.done).toBe(2);
    expect(tr.view().files.map((f) => f.file)).toEqual(['config.json', 'model.onnx']);
  });
});
