/** The own decoder's kernel pool under Node (tests, benchmarks, CLI): helpers are worker_threads Workers of own-kernel.node-worker.ts. */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { createKernelPool, type KernelPool, type KernelPoolOptions, type WorkerLike } from '../src/core/lm/own/pool';

/** Threads the product would use here: min(4, cores). */
export function nodeKernelThreads(): number {
  return Math.min(4, os.availableParallelism?.() ?? os.cpus().length);
}

/**
 * A worker_threads Worker of own-kernel.node-worker.ts. Run from the TypeScript sources (tsx,
 * vitest), the worker loads that file through tsx's API, as pca-pool-node.ts does; `tsx` resolves
 * from the working directory (the repository root under npm scripts).
 */
export function nodeKernelWorker(file = new URL('./own-kernel.node-worker.ts', import.meta.url).href): WorkerLike {
  const w = file.endsWith('.ts')
    ? new Worker(`import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(file)}, ${JSON.stringify(file)}))`, { eval: true })
    : new Worker(new URL(file));
  return {
    postMessage: (m, transfer) => w.postMessage(m, transfer ?? []),
    terminate: () => w.terminate(),
    onMessage: (h) => w.on('message', h),
    onError: (h) => w.on('error', h),
  };
}

/** A kernel pool of `threads` threads (the caller and threads - 1 worker_threads helpers). */
export function nodeKernelPool(threads = nodeKernelThreads(), options?: KernelPoolOptions): Promise<KernelPool & { close(): Promise<void> }> {
  const file = new URL('./own-kernel.node-worker.ts', import.meta.url).href;
  const js = import.meta.url.endsWith('.ts') ? file : file.replace(/\.ts$/, '.js');
  return createKernelPool(threads, () => nodeKernelWorker(js), options);
}
