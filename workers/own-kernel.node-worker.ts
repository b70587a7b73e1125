/** The own decoder's kernel-pool helper under Node worker_threads (tests, benchmarks, CLI): its parent port adapted to serveKernelPool. */
import { parentPort } from 'node:worker_threads';
import { serveKernelPool } from '../src/core/lm/own/pool';

const port = parentPort;
if (!port) throw new Error('own-kernel.node-worker.ts runs as a worker_threads Worker.');
serveKernelPool({
  onMessage: (h) => port.on('message', h),
  postMessage: (m) => port.postMessage(m),
});
