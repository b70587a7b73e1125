/** The own decoder's kernel-pool helper in a browser (a module worker): its scope adapted to serveKernelPool. */
import { serveKernelPool } from '../src/core/lm/own/pool';

const scope = globalThis as unknown as {
  addEventListener(type: 'message', l: (e: MessageEvent<unknown>) => void): void;
  postMessage(m: unknown): void;
};
serveKernelPool({
  onMessage: (h) => scope.addEventListener('message', (e) => h(e.data)),
  postMessage: (m) => scope.postMessage(m),
});
