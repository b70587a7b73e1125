/**
 * Tests only (./arena.test.ts): a kernel-pool helper under Node worker_threads, as
 * workers/own-kernel.node-worker.ts, that also counts the WebAssembly instances (so memories: one
 * each) its thread makes once the kernels are instantiated, and posts { type: 'instances', n } when
 * told to serve (after every load before it).
 */
import { parentPort } from 'node:worker_threads';
import { int8GemvWasm } from '../int8-gemv-wasm';
import { countInstances } from './arena-count.testkit';
import { serveKernelPool } from './pool';

const port = parentPort;
if (!port) throw new Error('arena-count-worker.testkit.ts runs as a worker_threads Worker.');
const counter = countInstances();
int8GemvWasm();
const base = counter.n;
serveKernelPool({
  onMessage: (h) =>
    port.on('message', (m: { type?: string }) => {
      if (m?.type === 'serve') port.postMessage({ type: 'instances', n: counter.n - base });
      h(m);
    }),
  postMessage: (m) => port.postMessage(m),
});
