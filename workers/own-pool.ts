/**
 * The own decoder's kernel pool in a browser: helpers are module Workers of own-kernel.worker.ts.
 * Usable from a page or from inside a Web Worker (the model worker); the caller blocks on its
 * helpers synchronously, which only a worker may do, so the decoder runs in the model worker.
 */
import { createKernelPool, type KernelPool, type KernelPoolOptions, type WorkerLike } from '../src/core/lm/own/pool';

/** Threads the product uses: min(4, hardwareConcurrency) when cross-origin isolated (SharedArrayBuffer), else 1. */
export function browserKernelThreads(): number {
  const g = globalThis as unknown as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer === 'undefined') return 1;
  return Math.max(1, Math.min(4, g.navigator?.hardwareConcurrency ?? 1));
}

function browserKernelWorker(): WorkerLike {
  const w = new Worker(new URL('./own-kernel.worker.ts', import.meta.url), { type: 'module' });
  return {
    postMessage: (m, transfer) => w.postMessage(m, transfer ?? []),
    terminate: () => w.terminate(),
    onMessage: (h) => w.addEventListener('message', (e) => h(e.data)),
    onError: (h) => w.addEventListener('error', (e) => h(new Error((e as Partial<ErrorEvent>).message || 'its script did not load or threw'))),
  };
}

/** A kernel pool of `threads` threads (default browserKernelThreads()); one thread where the page is not cross-origin isolated. */
export function browserKernelPool(threads = browserKernelThreads(), options?: KernelPoolOptions): Promise<KernelPool & { close(): Promise<void> }> {
  const isolated = (globalThis as unknown as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  return createKernelPool(isolated ? threads : 1, browserKernelWorker, options);
}
