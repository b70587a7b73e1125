/**
 * cos(axis, PC_k) at every layer on a pool of workers, one layer per task: the layers are
 * independent, so W workers take about 1/W of the time on W free cores. Same result as the
 * single-thread `cosAxisPcPerLayer` (src/core/persona/analysis.ts): each worker runs the same
 * `pcaAtLayer` on the layer it is sent (pca-pool-task.ts).
 *
 * The pool is independent of where it runs: it takes a factory of workers. In the browser,
 * `browserPcaWorker` (a module Worker of pca-pool.worker.ts); in Node, `nodePcaWorker` from
 * pca-pool-node.ts (a worker_threads Worker of pca-pool.node-worker.ts). Both serve tasks with the
 * same code. The sender decodes each layer (set.layer) and transfers it; at most `inFlight` layers
 * per worker are decoded ahead, so memory stays at a few layers whatever the set's size.
 * A layer whose task fails is run again on the calling thread, which throws the usual typed error.
 */
import { fitMembers, pcaAtLayer, storedAxisAt, type AnalysisOptions, type LayerSummary } from '../src/core/persona/analysis';
import type { PersonaSet } from '../src/core/persona/types';
import { isPersonaSpaceError } from '../src/core/errors';
import type { LayerSweep } from './analysis-core';
import type { PcaLayerReply, PcaLayerTask } from './pca-pool-task';

/** What the pool needs of a worker (a Web Worker and a worker_threads Worker both fit through a small adapter). */
export interface PoolWorker {
  postMessage(task: PcaLayerTask, transfer: ArrayBuffer[]): void;
  onReply(handler: (r: PcaLayerReply) => void): void;
  onError(handler: (e: unknown) => void): void;
  terminate(): void;
}

export type PoolWorkerFactory = () => PoolWorker;

export interface PcaPoolOptions {
  /** Workers (default 2). */
  size?: number;
  /** Layers sent ahead to each worker (default 2: one computing, one waiting). */
  inFlight?: number;
}

export interface PcaPool {
  readonly size: number;
  /** cos(axis, PC1..PC_K), |axis| and the explained-variance ratios at every layer, in layer order. */
  cosAxisPcPerLayer(set: PersonaSet, components?: number, opts?: AnalysisOptions & { onLayer?: (layer: number) => void; keepAxis?: boolean; signal?: AbortSignal }): Promise<LayerSummary[]>;
  /** Stop the workers. */
  close(): void;
}

export function createPcaPool(factory: PoolWorkerFactory, opts: PcaPoolOptions = {}): PcaPool {
  const size = Math.max(1, Math.floor(opts.size ?? 2));
  const inFlight = Math.max(1, Math.floor(opts.inFlight ?? 2));
  const workers: PoolWorker[] = [];
  for (let i = 0; i < size; i++) workers.push(factory());
  let busy = false;
  let closed = false;
  // Task ids run on across analyses, so a late reply from a failed one is never taken for a new one's.
  let seq = 0;
  // Layer buffers handed back by the workers, decoded into again (no fresh multi-MB array per layer).
  const free: Float32Array[] = [];

  return {
    size,
    close() {
      closed = true;
      for (const w of workers) w.terminate();
    },
    cosAxisPcPerLayer(set, components = 3, o = {}) {
      if (closed) return Promise.reject(new Error('The PCA pool was closed.'));
      if (busy) return Promise.reject(new Error('The PCA pool is already running an analysis.'));
      busy = true;
      const layers: (number | null)[] = set.layers === null ? [null] : Array.from({ length: set.layers }, (_, l) => l);
      const members = fitMembers(set, o);
      const out: (LayerSummary | undefined)[] = new Array(layers.length);
      let next = 0;
      let done = 0;
      const pending = new Map<number, number>(); // task id -> index into layers
      return new Promise<LayerSummary[]>((resolve, reject) => {
        let failed = false;
        const fail = (e: unknown) => {
          if (failed) return;
          failed = true;
          busy = false;
          reject(e);
        };
        const send = (wi: number) => {
          if (failed || next >= layers.length) return;
          if (o.signal?.aborted) return fail(o.signal.reason ?? new Error('aborted'));
          const index = next++;
          const id = seq++;
          const l = layers[index];
          const at = l ?? 0;
          const len = set.names.length * set.dim;
          const spare = free.pop();
          const values = set.layer(at, spare && spare.length === len ? spare : undefined);
          const task: PcaLayerTask = {
            id,
            layer: l,
            count: set.names.length,
            dim: set.dim,
            values,
            defaultVector: set.defaultAt(at),
            defaultLabel: set.defaultLabel,
            storedAxis: storedAxisAt(set, at),
            members,
            components,
            keepAxis: !!o.keepAxis,
          };
          pending.set(id, index);
          workers[wi].postMessage(task, [values.buffer as ArrayBuffer]);
        };
        const onReply = (wi: number) => (r: PcaLayerReply) => {
          if (r.values && free.length < size * inFlight) free.push(r.values);
          const index = pending.get(r.id);
          if (failed || index === undefined) return;
          pending.delete(r.id);
          if (r.ok) out[index] = r.summary;
          else {
            // Run the layer here: the same code throws the same typed error, with the layer's number.
            try {
              const l = layers[index];
              const p = pcaAtLayer(set, l, { ...o, components });
              out[index] = { layer: p.layer, axisNorm: p.axisNorm, cosAxisPc: p.cosAxisPc, explainedVarianceRatio: p.explainedVarianceRatio, ...(o.keepAxis ? { axis: p.axis } : {}) };
            } catch (e) {
              return fail(e);
            }
          }
          done++;
          o.onLayer?.(layers[index] ?? 0);
          if (done === layers.length) {
            busy = false;
            resolve(out as LayerSummary[]);
            return;
          }
          send(wi);
        };
        workers.forEach((w, wi) => {
          w.onReply(onReply(wi));
          w.onError((e) => fail(e));
        });
        for (let k = 0; k < inFlight; k++) for (let wi = 0; wi < size; wi++) send(wi);
      });
    },
  };
}

export interface PoolSweepOptions {
  /** Sets with fewer layers run on the calling thread (default 8: below that the workers' start costs more than they save). */
  minLayers?: number;
}

/**
 * The layer chart's sweep (analysis-core.ts `layerProfile`) on a pool opened on first use: it
 * declines (null: the caller runs the layers itself) for sets with few layers, while the pool is
 * running another sweep, and for good once opening the pool or a worker failed for a reason other
 * than the data (a browser that refuses the Worker). `close()` stops the pool's workers.
 */
export function poolSweep(open: () => PcaPool, opts: PoolSweepOptions = {}): LayerSweep & { close(): void } {
  const minLayers = opts.minLayers ?? 8;
  let pool: PcaPool | null = null;
  let broken = false;
  let busy = false;
  const drop = () => {
    broken = true;
    pool?.close();
    pool = null;
  };
  const sweep = (set: PersonaSet, onLayer: () => void, signal: AbortSignal) => {
    if (broken || busy || (set.layers ?? 1) < minLayers) return null;
    try {
      pool ??= open();
    } catch {
      drop();
      return null;
    }
    busy = true;
    return pool.cosAxisPcPerLayer(set, 3, { onLayer: () => onLayer(), signal }).then(
      (rows) => {
        busy = false;
        return rows;
      },
      (e: unknown) => {
        busy = false;
        if (!signal.aborted && !isPersonaSpaceError(e)) drop();
        throw e;
      },
    );
  };
  return Object.assign(sweep, { close: () => { pool?.close(); pool = null; } });
}

/** A browser module Worker of pca-pool.worker.ts, adapted for the pool. */
export function browserPcaWorker(): PoolWorker {
  const w = new Worker(new URL('./pca-pool.worker.ts', import.meta.url), { type: 'module' });
  return {
    postMessage: (t, transfer) => w.postMessage(t, transfer),
    onReply: (h) => (w.onmessage = (e: MessageEvent<PcaLayerReply>) => h(e.data)),
    onError: (h) => (w.onerror = (e) => h(new Error(`The PCA worker failed: ${e.message}`))),
    terminate: () => w.terminate(),
  };
}
