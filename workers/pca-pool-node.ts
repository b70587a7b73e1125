/** Node's worker factory for the PCA pool (pca-pool.ts): a worker_threads Worker serving the browser worker's code. */
import { Worker } from 'node:worker_threads';
import type { PoolWorker } from './pca-pool';
import type { PcaLayerReply } from './pca-pool-task';

/**
 * A worker_threads Worker of pca-pool.node-worker.ts. Run from the TypeScript sources (tsx:
 * benchmarks, `npm run cli`), the worker loads that file through tsx's API (Node 20 workers do not
 * inherit tsx's loader, `--import tsx` in execArgv included); `tsx` resolves from the working
 * directory, the repository root under npm scripts.
 */
export function nodePcaWorker(): PoolWorker {
  const url = new URL('./pca-pool.node-worker.ts', import.meta.url).href;
  let w: Worker;
  if (import.meta.url.endsWith('.ts')) {
    w = new Worker(`import('tsx/esm/api').then((m) => m.tsImport(${JSON.stringify(url)}, ${JSON.stringify(url)}))`, { eval: true });
  } else {
    w = new Worker(new URL(url.replace(/\.ts$/, '.js')));
  }
  return {
    postMessage: (t, transfer) => w.postMessage(t, transfer),
    onReply: (h) => {
      w.removeAllListeners('message');
      w.on('message', (r: PcaLayerReply) => h(r));
    },
    onError: (h) => {
      w.removeAllListeners('error');
      w.on('error', h);
    },
    terminate: () => void w.terminate(),
  };
}
