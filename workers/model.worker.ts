/// <reference lib="webworker" />
/**
 * The model worker shell: loads a chat model (hub URL scheme, local files, or the built-in synthetic
 * model), instruments it (resid_post taps, steer, cap), generates with streaming and runs the chat
 * lab's session. All of that is `ModelCore` (model-core.ts, tested in Node); this file only wires
 * the browser's loader and cache and exposes the core over Comlink (the page uses model-client.ts).
 *
 * Backend choice: WebGPU when an adapter is there (and has shader-f16 for fp16 models), otherwise
 * WASM — multi-threaded when the page is cross-origin isolated, single-threaded otherwise. On WASM
 * an 8-bit file runs on our int8 decoder (src/core/lm/own; its kernel pool's helpers are module
 * workers this worker starts, workers/own-pool.ts), anything else on onnxruntime-web (model-load.ts).
 * The reason for the choice (and the runtime) is returned so the UI can say it. The ORT wasm binary
 * is the app's own copy (emitted by Vite next to this worker), never a CDN.
 *
 * Errors cross the boundary with their code: the thrown Error's name is `ps:<code>`, its message the
 * sentence; the client turns it back into a ModelWorkerError.
 */
import * as Comlink from 'comlink';
import { MemoryFileCache, defaultFileCache, type FileCache } from '../src/core/hub/cache';
import { configureWasm, loadModel } from './model-load';
import { ModelCore, guarded, type CoreMethods } from './model-core';

// Before anything imports transformers.js (whose default would point the wasm files at a CDN).
configureWasm();

let cache: FileCache | null = null;
const core = new ModelCore(loadModel, () => {
  try {
    cache ??= defaultFileCache();
  } catch {
    cache = new MemoryFileCache();
  }
  return cache;
});

export type ModelWorkerApi = CoreMethods;

Comlink.expose(guarded(core));
