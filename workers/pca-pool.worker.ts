/** The browser's pool worker (a module worker): its message port adapted to servePcaTasks. */
import { servePcaTasks, type PcaLayerTask, type PcaLayerReply } from './pca-pool-task';

const scope = globalThis as unknown as {
  addEventListener(type: 'message', l: (e: MessageEvent<PcaLayerTask>) => void): void;
  postMessage(m: PcaLayerReply, transfer: ArrayBuffer[]): void;
};
servePcaTasks({
  onTask: (handler) => scope.addEventListener('message', (e) => handler(e.data)),
  reply: (r, transfer) => scope.postMessage(r, transfer),
});
