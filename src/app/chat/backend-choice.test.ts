/**
 * The chat lab's backend choice: parsing, the session memory (sessionStorage; a blocked storage
 * is no error), what the picker plans for each choice on each kind of adapter, and the plumbing —
 * the store hands the choice to the model worker's load and a fresh page of the same session
 * starts with it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseBackendChoice, plannedBackend, readBackendChoice, saveBackendChoice } from './backend-choice';
import type { ChatEngine } from './api';
import type { GpuAdapterLike } from '../../core/lm/adapter';

class MemoryStorage {
  readonly m = new Map<string, string>();
  getItem(k: string): string | null { return this.m.get(k) ?? null; }
  setItem(k: string, v: string): void { this.m.set(k, String(v)); }
}

const hardware = (f16: boolean): GpuAdapterLike => ({ features: new Set(f16 ? ['shader-f16'] : []), info: { vendor: 'nvidia', architecture: 'ampere' } });
const software: GpuAdapterLike = { features: new Set(['shader-f16']), info: { isFallbackAdapter: true, vendor: 'google', architecture: 'swiftshader' } };

afterEach(() => {
  vi.unstubAllGlobals();
  vi.resetModules();
});

describe('backend choice', () => {
  it('parses auto / webgpu / wasm, anything else as auto', () => {
    expect(['auto', 'webgpu', 'wasm', 'WASM', '', null, 3, '__proto__'].map(parseBackendChoice)).toEqual(['auto', 'webgpu', 'wasm', 'auto', 'auto', 'auto', 'auto', 'auto']);
  });

  it('is remembered in the session storage; none, junk or a blocked storage reads as auto', () => {
    const s = new MemoryStorage();
    expect(readBackendChoice(s)).toBe('auto');
    saveBackendChoice('wasm', s);
    expect(readBackendChoice(s)).toBe('wasm');
    s.setItem('persona-space.chat.backend', 'cuda');
    expect(readBackendChoice(s)).toBe('auto');
    const blocked = { getItem: () => { throw new Error('SecurityError'); }, setItem: () => { throw new Error('QuotaExceededError'); } };
    expect(readBackendChoice(blocked)).toBe('auto');
    expect(() => saveBackendChoice('webgpu', blocked)).not.toThrow();
    expect(readBackendChoice(null)).toBe('auto');
  });

  it('plans the backend the worker will use: auto skips a software adapter, webgpu takes it, wasm is wasm', () => {
    expect(plannedBackend('auto', hardware(true))).toEqual({ backend: 'webgpu', shaderF16: true, note: null });
    expect(plannedBackend('auto', hardware(false))).toEqual({ backend: 'webgpu', shaderF16: false, note: null });
    expect(plannedBackend('auto', software)).toEqual({ backend: 'wasm', shaderF16: false, note: null });
    expect(plannedBackend('auto', null)).toEqual({ backend: 'wasm', shaderF16: false, note: null });
    expect(plannedBackend('webgpu', software)).toEqual({ backend: 'webgpu', shaderF16: true, note: null });
    expect(plannedBackend('webgpu', null).backend).toBe('wasm');
    expect(plannedBackend('webgpu', null).note).toMatch(/no WebGPU adapter, so a WebGPU load will fail/);
    expect(plannedBackend('wasm', hardware(true))).toEqual({ backend: 'wasm', shaderF16: false, note: null });
  });

  it('the store sends the choice with the next load, saves it for the session, and a new page of the session starts with it', async () => {
    const storage = new MemoryStorage();
    vi.stubGlobal('sessionStorage', storage);
    const { setChatEngineFactory, useChat } = await import('./store');
    const devices: unknown[] = [];
    const engine = {
      load: async (_src: unknown, opts: { device?: string }) => {
        devices.push(opts.device);
        return { label: 'fake', backend: opts.device === 'wasm' ? 'wasm' : 'webgpu', reason: 'test', threads: 1, numLayers: 2, hiddenSize: 4, vocabSize: 10, modelType: 'qwen3', style: 'x', residDtype: 'float32', stopIds: [], bytes: 1, loadMs: 1, warnings: [] };
      },
      chatSettings: async () => { throw new Error('no axis'); },
      chatSnapshot: async () => { throw new Error('no chat'); },
      terminate: () => {},
    };
    setChatEngineFactory(() => engine as unknown as ChatEngine);
    expect(useChat.getState().backend).toBe('auto');
    await useChat.getState().loadModel({ kind: 'synthetic' });
    useChat.getState().setBackend('wasm');
    expect(useChat.getState().backend).toBe('wasm');
    await useChat.getState().loadModel({ kind: 'synthetic' });
    expect(devices).toEqual(['auto', 'wasm']);
    expect(storage.getItem('persona-space.chat.backend')).toBe('wasm');
    // A reload in the same tab: the module is read again, the choice comes back from the session.
    vi.resetModules();
    const again = await import('./store');
    expect(again.useChat.getState().backend).toBe('wasm');
  });
});
