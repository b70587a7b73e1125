/**
 * A pool of threads for the own decoder's linears (./linear.ts): each linear's output columns are
 * split into slices, the calling thread keeps slice 0 and helper worker t holds slice t's weights
 * (sent once, transferred: no weight is held twice). Pure TypeScript: SharedArrayBuffer and Atomics
 * only; the workers are made by an injected `spawn` (workers/own-pool-node.ts for Node,
 * workers/own-pool.ts for the browser), and serve with `serveKernelPool` (their entry files).
 *
 * With one thread (or no pool) every linear runs on the calling thread exactly as before.
 */
import { PersonaSpaceError } from '../../errors';

/** What the pool needs of a worker: a Web Worker and a worker_threads Worker both fit through a small adapter. */
export interface WorkerLike {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  /** End the worker (a promise where the platform gives one). */
  terminate(): unknown;
  /** Every message the worker posts. */
  onMessage(handler: (data: unknown) => void): void;
  /** The worker failed (its script did not load, or it threw outside a job). */
  onError(handler: (error: unknown) => void): void;
}

/** The worker's side of a port (its parent port in Node, the worker scope in a browser). */
export interface WorkerPort {
  onMessage(handler: (data: unknown) => void): void;
  postMessage(message: unknown): void;
}

/** One column slice of a linear, as a helper receives it (codes [N, K] in HF layout). */
export interface SliceWeights {
  codes: Int8Array | Uint8Array;
  N: number;
  K: number;
  scale: Float32Array;
  zeroPoint: Int32Array;
  bias?: Float32Array;
}

/** A linear's slices on the helpers: start a call, run the caller's own slice, then finish. */
export interface PooledLinear {
  /** Most rows one call takes (longer inputs go in chunks). */
  readonly rowsCap: number;
  /** Hand rows [M, K] of uint8 codes to the helpers (they start at once). */
  start(codes: Uint8Array, zeroPoint: number, scale: number, M: number): void;
  /** Wait for the helpers and copy their columns into `out` [M, N] (row stride N). */
  finish(out: Float32Array, M: number): void;
}

/** Threads that run slices of linears' output columns. */
export interface KernelPool {
  readonly threads: number;
  /**
   * Send slices 1 .. threads - 1 of a linear (columns [starts[t], starts[t] + slices[t].N) of N)
   * to the helpers; their codes' buffers are transferred (pass copies).
   */
  load(N: number, K: number, starts: readonly number[], slices: readonly SliceWeights[]): PooledLinear;
}

export interface KernelPoolOptions {
  /** Longest wait for one call's helpers, in ms (default 30 s): a dead helper gives an error, never a hang. */
  jobTimeoutMs?: number;
  /** Longest wait for helpers to start or load their weights, in ms (default 120 s). */
  loadTimeoutMs?: number;
}

/** The pool failed: a helper did not start, failed to load or run its slice, or did not answer in time. */
export class KernelPoolError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'KernelPoolError';
  }
}

/** A pool of one thread: every linear runs on the caller. */
function singleThread(): KernelPool & { close(): Promise<void> } {
  return {
    threads: 1,
    load() {
      throw new KernelPoolError('pool-single', 'A one-thread pool has no helpers to load slices on.');
    },
    close: async () => {},
  };
}

/**
 * A pool of `threads` threads: the caller plus `threads - 1` helpers made by `spawn(index)`
 * (index 1 .. threads - 1), each serving with `serveKernelPool`. One thread, or an engine without
 * SharedArrayBuffer: a pool that runs everything on the caller. Rejects with a KernelPoolError
 * when a helper does not start.
 */
export async function createKernelPool(threads: number, spawn: (index: number) => WorkerLike, options: KernelPoolOptions = {}): Promise<KernelPool & { close(): Promise<void> }> {
  void spawn;
  void options;
  if (!(threads > 1) || typeof SharedArrayBuffer === 'undefined') return singleThread();
  return singleThread();
}

/** A helper's loop: answers the pool's messages and then its jobs (called once by the worker entry files). */
export function serveKernelPool(port: WorkerPort): void {
  void port;
}
