/**
 * A pool of threads for the own decoder's linears (./linear.ts). Each linear's output columns are
 * split into slices; the calling thread keeps slice 0 and helper t holds slice t's weights (sent
 * once, transferred: no weight is held twice). Pure TypeScript: SharedArrayBuffer and Atomics only;
 * the helpers are made by an injected `spawn` (workers/own-pool-node.ts in Node,
 * workers/own-pool.ts in a browser) and serve with `serveKernelPool` (their entry files).
 *
 * Protocol. A control SharedArrayBuffer (Int32 slots) and a data one (activation codes, then the
 * helpers' float outputs). A helper is in one of two modes:
 *   messages  its event loop runs: 'data' (a new data buffer), 'load' (a slice's weights, loaded
 *             into an Int8Linear in the helper's arena: one WebAssembly memory per kernel module
 *             for all its slices, not one per slice), 'serve' (enter the job loop); each is acknowledged by
 *             bumping its ACK slot (after writing any error into its ERR slot and text);
 *   jobs      a synchronous loop: it spins (spinUs), then Atomics.wait, on the JOB counter; a RUN job
 *             (linear id, rows M, the activations' zero point and scale, or one per row, in the control buffer, codes in
 *             the data buffer) writes its slice's floats [M, n_t] into the data buffer at the
 *             linear's offset, then bumps DONE; YIELD returns to the event loop (so more loads can
 *             come), CLOSE ends the loop for good.
 * A call: the caller writes the codes and the job's fields, bumps JOB and notifies, computes its own
 * slice, then waits (spin, then Atomics.wait) until DONE counts every helper, and copies their
 * columns out. The first call after loads sends 'serve' and waits for every helper's
 * acknowledgement (so a failed load is reported there). Every wait has a timeout: a helper that
 * dies gives a KernelPoolError, never a hang; after one the pool refuses further calls.
 *
 * The caller blocks synchronously, which Node's main thread and a Web Worker may do (a page's main
 * thread may not wait; there it spins). With one thread (or no pool) nothing here runs.
 */
import { PersonaSpaceError } from '../../errors';
import { int8GemvWasm, type Int8Arena } from '../int8-gemv-wasm';
import { ColumnSlice } from './linear';

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
  /**
   * The int8 kernel the caller chose for the linear (ColumnSlice: 'u8dot' falls back to 'dot' where
   * the helper's engine did not find it exact; omitted: the helper's own `integerKernel()`).
   */
  kernel?: 'dot' | 'u8dot';
}

/** A linear's slices on the helpers: start a call, run the caller's own slice, then finish. */
export interface PooledLinear {
  /** Most rows one call takes (longer inputs go in chunks). */
  readonly rowsCap: number;
  /**
   * Hand rows [M, K] of uint8 codes (M <= rowsCap) to the helpers; they start at once. One zero
   * point and scale for every row, or one per row (rows quantised on their own).
   */
  start(codes: Uint8Array, zeroPoint: number | Int32Array, scale: number | Float32Array, M: number): void;
  /** Wait for the helpers and copy their columns into `out` [M, N] (row stride N). Always call it after `start`. */
  finish(out: Float32Array, M: number): void;
}

/** Threads that run slices of linears' output columns. */
export interface KernelPool {
  readonly threads: number;
  /**
   * Send slices 1 .. threads - 1 of a linear of N columns (slice t: columns starts[t] ..
   * starts[t] + slices[t - 1].N) to the helpers; their buffers are transferred (pass copies).
   */
  load(N: number, K: number, starts: readonly number[], slices: readonly SliceWeights[]): PooledLinear;
}

export interface KernelPoolOptions {
  /** Longest wait for one call's helpers, in ms (default 30 s): a dead helper gives an error, never a hang. */
  jobTimeoutMs?: number;
  /** Longest wait for helpers to start or load their weights, in ms (default 120 s). */
  loadTimeoutMs?: number;
  /**
   * How long a thread spins on the counter it waits for before it sleeps in Atomics.wait, in
   * microseconds (default 2000): the caller for its helpers, a helper for the next job. The
   * decoder's work between two linears is shorter, so helpers stay awake through a decode step;
   * a sleeping one costs a wake-up per call (much in a VM: 4-layer decode on 2 threads measured
   * 1.24x one thread with 200, 1.31x with 2000, 1.29x with 5000). A spin that gets preempted
   * stops early (see spinWhile).
   */
  spinUs?: number;
}

/** The pool failed: a helper did not start, failed to load or run its slice, or did not answer in time. */
export class KernelPoolError extends PersonaSpaceError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'KernelPoolError';
  }
}

export type ClosableKernelPool = KernelPool & { close(): Promise<void> };

/** At most this many threads (the control buffer's slots). */
export const MAX_THREADS = 16;

// control slots (Int32)
const JOB = 0, KIND = 1, LIN = 2, ROWS = 3, AZERO = 4, DONE = 5, SPIN = 6, PER_ROW = 7;
const ACK = 16; // + helper
const ERR = ACK + MAX_THREADS; // + helper: error text length (0: none)
const SCALE_BYTE = 4 * (ERR + MAX_THREADS); // one float64
const TEXT_BYTE = SCALE_BYTE + 8;
const TEXT_LEN = 480;
/** Most rows of one pooled call (per-row zero points and scales have a slot each). */
const MAX_CALL_ROWS = 64;
const ROW_ZERO_BYTE = Math.ceil((TEXT_BYTE + MAX_THREADS * TEXT_LEN) / 64) * 64; // Int32 per row
const ROW_SCALE_BYTE = ROW_ZERO_BYTE + 4 * MAX_CALL_ROWS; // Float32 per row
const CTRL_BYTES = ROW_SCALE_BYTE + 4 * MAX_CALL_ROWS;
const RUN = 1, YIELD = 2, CLOSE = 3;
/** Bytes of data buffer a linear's chunk of rows aims at (activation codes + helpers' floats). */
const CHUNK_BYTES = 8 << 20;

type Msg =
  | { type: 'init'; ctrl: SharedArrayBuffer; helper: number }
  | { type: 'data'; data: SharedArrayBuffer; outByte: number }
  | { type: 'load'; id: number; base: number; w: SliceWeights }
  | { type: 'serve' };

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function writeText(ctrl: Int32Array, helper: number, text: string): void {
  const bytes = new TextEncoder().encode(text || 'unknown error').subarray(0, TEXT_LEN);
  new Uint8Array(ctrl.buffer, TEXT_BYTE + helper * TEXT_LEN, TEXT_LEN).set(bytes);
  Atomics.store(ctrl, ERR + helper, bytes.length);
}

function readText(ctrl: Int32Array, helper: number): string | null {
  const n = Atomics.load(ctrl, ERR + helper);
  if (!n) return null;
  const copy = new Uint8Array(n);
  copy.set(new Uint8Array(ctrl.buffer, TEXT_BYTE + helper * TEXT_LEN, n));
  Atomics.store(ctrl, ERR + helper, 0);
  return new TextDecoder().decode(copy);
}

/** Waits left on this thread that skip the spin (a spin that was preempted sets it). */
let calm = 0;
/**
 * A spin that sees a gap this long between two looks at the clock was preempted (ms). 0.5 ms
 * tripped on Chromium's own threads' blips (a renderer's compositor, V8's tier-up): the helpers
 * then slept through 64 calls and woke late for each; in Chromium 156, 4 layers, one row, a
 * conversation's decode step on 2 threads took 6.67 ms at 0.5 and 5.62 at 2 (one thread: 7.3-7.6).
 */
const PREEMPTED_MS = 2;
/** Waits without spinning after a preempted spin. */
const CALM_WAITS = 64;

/**
 * Spin while `busy(ctrl[slot])`, at most `us` microseconds; the last value read. A spin that is
 * preempted (the machine has more runnable threads than cores) stops, and so do this thread's next
 * CALM_WAITS spins: there, spinning takes the CPU from the very threads being waited for.
 */
function spinWhile(ctrl: Int32Array, slot: number, busy: (v: number) => boolean, us: number): number {
  let v = Atomics.load(ctrl, slot);
  if (!busy(v) || us <= 0) return v;
  if (calm > 0) {
    calm--;
    return v;
  }
  let last = performance.now();
  const until = last + us / 1000;
  for (;;) {
    for (let i = 0; i < 64; i++) {
      v = Atomics.load(ctrl, slot);
      if (!busy(v)) return v;
    }
    const now = performance.now();
    if (now - last > PREEMPTED_MS) {
      calm = CALM_WAITS;
      return v;
    }
    if (now > until) return v;
    last = now;
  }
}

/** A pool of one thread: every linear runs on the caller. */
function singleThread(): ClosableKernelPool {
  return {
    threads: 1,
    load() {
      throw new KernelPoolError('pool-single', 'A one-thread pool has no helper threads to load slices on.');
    },
    close: async () => {},
  };
}

/**
 * A pool of `threads` threads (at most MAX_THREADS): the caller plus `threads - 1` helpers made by
 * `spawn(index)` (index 1 .. threads - 1), each serving with `serveKernelPool`. One thread, or an
 * engine without SharedArrayBuffer: a pool that runs everything on the caller. Rejects with a
 * KernelPoolError when a helper does not start.
 */
export async function createKernelPool(threads: number, spawn: (index: number) => WorkerLike, options: KernelPoolOptions = {}): Promise<ClosableKernelPool> {
  const T = Math.min(MAX_THREADS, Math.floor(threads));
  if (!(T > 1) || typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') return singleThread();
  const H = T - 1;
  const jobTimeout = options.jobTimeoutMs ?? 30_000;
  const loadTimeout = options.loadTimeoutMs ?? 120_000;
  const spinUs = Math.max(0, Math.floor(options.spinUs ?? 2000));
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_BYTES));
  ctrl[SPIN] = spinUs;
  const scaleSlot = new Float64Array(ctrl.buffer, SCALE_BYTE, 1);
  const rowZero = new Int32Array(ctrl.buffer, ROW_ZERO_BYTE, MAX_CALL_ROWS);
  const rowScale = new Float32Array(ctrl.buffer, ROW_SCALE_BYTE, MAX_CALL_ROWS);
  const workers: WorkerLike[] = [];
  let failure: KernelPoolError | null = null;
  let closed = false;

  // start: spawn every helper and wait for its 'ready'
  try {
    for (let h = 0; h < H; h++) workers.push(spawn(h + 1));
    await Promise.all(
      workers.map(
        (w, h) =>
          new Promise<void>((resolve, reject) => {
            let started = false;
            const timer = setTimeout(() => reject(new KernelPoolError('pool-start', `Kernel thread ${h + 1} did not start within ${Math.round(loadTimeout / 1000)} s.`)), loadTimeout);
            w.onMessage((m) => {
              if ((m as { type?: string })?.type !== 'ready' || started) return;
              started = true;
              clearTimeout(timer);
              resolve();
            });
            w.onError((e) => {
              const err = new KernelPoolError(started ? 'pool-failed' : 'pool-start', `Kernel thread ${h + 1} failed${started ? '' : ' to start'}: ${message(e)}`);
              failure ??= err;
              clearTimeout(timer);
              reject(err);
            });
            w.postMessage({ type: 'init', ctrl: ctrl.buffer as SharedArrayBuffer, helper: h } satisfies Msg);
          }),
      ),
    );
  } catch (e) {
    await Promise.allSettled(workers.map((w) => w.terminate()));
    throw e instanceof KernelPoolError ? e : new KernelPoolError('pool-start', `A kernel thread did not start: ${message(e)}`);
  }

  let serving = false;
  let seq = 0;
  let nextId = 1;
  const posted = new Array<number>(H).fill(0);
  let data = new SharedArrayBuffer(0);
  let act: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  let outs: Float32Array<ArrayBufferLike> = new Float32Array(0);
  let canWait = true;

  const fail = (code: string, text: string): never => {
    failure ??= new KernelPoolError(code, text);
    throw failure;
  };
  const check = () => {
    if (closed) throw new KernelPoolError('pool-closed', 'The kernel pool was closed.');
    if (failure) throw failure;
  };
  /** Wait until ctrl[slot] >= want (spin, then Atomics.wait), or throw after `timeout` ms. */
  const waitFor = (slot: number, want: number, timeout: number, what: string) => {
    let v = spinWhile(ctrl, slot, (x) => x < want, spinUs);
    if (v >= want) return;
    const until = Date.now() + timeout;
    while (v < want) {
      const left = until - Date.now();
      if (left <= 0) fail('pool-timeout', `A kernel thread did not answer within ${Math.round(timeout / 1000)} s (${what}); it may have crashed.`);
      if (canWait) {
        try {
          Atomics.wait(ctrl, slot, v, Math.min(left, 1000));
        } catch {
          canWait = false; // a page's main thread may not wait: spin
        }
      }
      v = Atomics.load(ctrl, slot);
    }
  };
  const helperErrors = () => {
    for (let h = 0; h < H; h++) {
      const t = readText(ctrl, h);
      if (t !== null) return `kernel thread ${h + 1}: ${t}`;
    }
    return null;
  };
  const post = (h: number, m: Msg, transfer: ArrayBuffer[] = []) => {
    workers[h].postMessage(m, transfer);
    posted[h]++;
  };
  /** One job for every helper (they are serving), waited for. */
  const job = (kind: number) => {
    Atomics.store(ctrl, KIND, kind);
    Atomics.store(ctrl, DONE, 0);
    seq = (seq + 1) | 0;
    Atomics.store(ctrl, JOB, seq);
    Atomics.notify(ctrl, JOB);
  };
  const toMessages = () => {
    if (!serving) return;
    job(YIELD);
    waitFor(DONE, H, jobTimeout, 'returning to load weights');
    serving = false;
  };
  const ensureServing = () => {
    if (serving) return;
    for (let h = 0; h < H; h++) post(h, { type: 'serve' });
    for (let h = 0; h < H; h++) waitFor(ACK + h, posted[h], loadTimeout, 'loading weights');
    const err = helperErrors();
    if (err) fail('pool-load', `A linear's weights could not be loaded on a kernel thread (${err}).`);
    serving = true;
  };

  return {
    threads: T,
    load(N, K, starts, slices) {
      check();
      if (starts.length !== T || slices.length !== H) throw new KernelPoolError('pool-slices', `A linear for ${T} threads needs ${T} slices; it has ${starts.length}.`);
      toMessages();
      const rowsCap = Math.max(4, Math.min(MAX_CALL_ROWS, Math.floor(CHUNK_BYTES / (K + 4 * N) / 4) * 4));
      const actBytes = Math.ceil((rowsCap * K) / 64) * 64;
      if (actBytes > act.length || rowsCap * N > outs.length) {
        const a = Math.max(actBytes, act.length), o = Math.max(rowsCap * N, outs.length);
        data = new SharedArrayBuffer(a + 4 * o);
        act = new Uint8Array(data, 0, a);
        outs = new Float32Array(data, a, o);
        for (let h = 0; h < H; h++) post(h, { type: 'data', data, outByte: a });
      }
      const id = nextId++;
      for (let h = 0; h < H; h++) {
        const w = slices[h];
        const transfer = [w.codes.buffer, w.scale.buffer, w.zeroPoint.buffer, ...(w.bias ? [w.bias.buffer] : [])] as ArrayBuffer[];
        post(h, { type: 'load', id, base: starts[h + 1] * rowsCap, w }, transfer);
      }
      const widths = slices.map((s) => s.N);
      let started = 0;
      return {
        rowsCap,
        start(codes, zeroPoint, scale, M) {
          check();
          ensureServing();
          if (!(M >= 1 && M <= rowsCap)) throw new KernelPoolError('pool-rows', `A pooled call takes 1 to ${rowsCap} rows; it got ${M}.`);
          act.set(codes.subarray(0, M * K));
          Atomics.store(ctrl, LIN, id);
          Atomics.store(ctrl, ROWS, M);
          const perRow = typeof zeroPoint !== 'number' || typeof scale !== 'number';
          if (perRow) {
            for (let m = 0; m < M; m++) {
              rowZero[m] = typeof zeroPoint === 'number' ? zeroPoint : zeroPoint[m];
              rowScale[m] = typeof scale === 'number' ? scale : scale[m];
            }
          } else {
            Atomics.store(ctrl, AZERO, zeroPoint);
            scaleSlot[0] = scale;
          }
          Atomics.store(ctrl, PER_ROW, perRow ? 1 : 0);
          job(RUN);
          started = M;
        },
        finish(out, M) {
          if (started !== M) throw new KernelPoolError('pool-rows', 'finish must follow start with the same rows.');
          started = 0;
          if (failure) throw failure;
          waitFor(DONE, H, jobTimeout, 'running a linear');
          const err = helperErrors();
          if (err) throw new KernelPoolError('pool-job', `A linear failed on a kernel thread (${err}).`);
          for (let h = 0; h < H; h++) {
            const n = widths[h], c0 = starts[h + 1], base = c0 * rowsCap;
            if (M === 1) out.set(outs.subarray(base, base + n), c0);
            else for (let m = 0; m < M; m++) out.set(outs.subarray(base + m * n, base + (m + 1) * n), m * N + c0);
          }
        },
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      if (serving && !failure) {
        job(CLOSE);
        try {
          waitFor(DONE, H, 5000, 'closing');
        } catch {
          // terminated below anyway
        }
      }
      await Promise.allSettled(workers.map((w) => w.terminate()));
    },
  };
}

/** A helper's side: answers the pool's messages, then its jobs (called once by the worker entry files). */
export function serveKernelPool(port: WorkerPort): void {
  let ctrl: Int32Array<ArrayBufferLike> = new Int32Array(0);
  let helper = -1;
  let act: Uint8Array<ArrayBufferLike> = new Uint8Array(0);
  let outs: Float32Array<ArrayBufferLike> = new Float32Array(0);
  let handled = 0;
  let closed = false;
  const linears = new Map<number, { slice: ColumnSlice; base: number }>();
  /** Every slice this helper loads goes into it (made at the first load; dropped with the helper). */
  let arena: Int8Arena | undefined;
  const ack = () => {
    Atomics.add(ctrl, ACK + helper, 1);
    Atomics.notify(ctrl, ACK + helper);
  };
  const serve = () => {
    const scale = new Float64Array(ctrl.buffer, SCALE_BYTE, 1);
    const rowZero = new Int32Array(ctrl.buffer, ROW_ZERO_BYTE, MAX_CALL_ROWS);
    const rowScale = new Float32Array(ctrl.buffer, ROW_SCALE_BYTE, MAX_CALL_ROWS);
    const spinUs = ctrl[SPIN];
    for (;;) {
      let j = spinWhile(ctrl, JOB, (x) => x === handled, spinUs);
      while (j === handled) {
        Atomics.wait(ctrl, JOB, handled);
        j = Atomics.load(ctrl, JOB);
      }
      handled = (handled + 1) | 0;
      const kind = Atomics.load(ctrl, KIND);
      if (kind === RUN) {
        try {
          const L = linears.get(Atomics.load(ctrl, LIN));
          if (!L) throw new Error('it was asked for a linear it does not hold');
          const M = Atomics.load(ctrl, ROWS);
          if (Atomics.load(ctrl, PER_ROW)) L.slice.run(act, rowZero.subarray(0, M), rowScale.subarray(0, M), M, outs.subarray(L.base), L.slice.N);
          else L.slice.run(act, Atomics.load(ctrl, AZERO), scale[0], M, outs.subarray(L.base), L.slice.N);
        } catch (e) {
          writeText(ctrl, helper, message(e));
        }
      }
      if (kind === CLOSE) closed = true;
      Atomics.add(ctrl, DONE, 1);
      Atomics.notify(ctrl, DONE);
      if (kind !== RUN) return;
    }
  };
  port.onMessage((raw) => {
    const m = raw as Msg;
    if (closed) return;
    if (m.type === 'init') {
      ctrl = new Int32Array(m.ctrl);
      helper = m.helper;
      port.postMessage({ type: 'ready' });
      return;
    }
    if (helper < 0) return;
    try {
      if (m.type === 'data') {
        act = new Uint8Array(m.data, 0, m.outByte);
        outs = new Float32Array(m.data, m.outByte);
      } else if (m.type === 'load') {
        arena ??= int8GemvWasm()?.arena();
        linears.set(m.id, { slice: new ColumnSlice(m.w, arena), base: m.base });
      }
    } catch (e) {
      writeText(ctrl, helper, message(e));
    }
    ack();
    if (m.type === 'serve') serve();
  });
}
