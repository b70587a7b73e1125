/** The Node worker_threads pool worker (benchmarks, CLI): its parent port adapted to servePcaTasks, the browser worker's code. */
import { parentPort } from 'node:worker_threads';
import { servePcaTasks, type PcaLayerTask } from './pca-pool-task';

const port = parentPort;
if (!port) throw new Error('pca-pool.node-worker.ts runs as a worker_threads Worker.');
servePcaTasks({
  onTask: (handler) => port.on('message', (t: PcaLayerTask) => handler(t)),
  reply: (r, transfer) => port.postMessage(r, transfer),
});
