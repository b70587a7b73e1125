/**
 * The browser's rollout store: IndexedDB, one database for every run. `runs` holds one record per
 * run (the list the page shows); `rollouts` holds every finished rollout keyed [runId, seq] so a
 * run reads back in the order it was stored. Each batch is one transaction: it is stored whole or
 * not at all, so a closed tab costs at most the batch in flight.
 */
import { DataError } from '../src/core/errors';
import { Aggregator } from '../src/core/extract/aggregate';
import type { ExtractionResult } from '../src/core/extract/pipeline';
import { countRollouts } from '../src/core/extract/presets';
import { releaseFiles } from '../src/core/extract/release';
import type { RolloutRecord, RolloutStore } from '../src/core/extract/store';
import type { VirtualFile } from '../src/core/persona/types';
import type { ExtractRunInfo } from './extract-protocol';

const DB_NAME = 'persona-space-extract';
const VERSION = 1;

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new DOMException('The write was aborted.', 'AbortError'));
  });
}

export function openExtractDb(idb: IDBFactory = indexedDB): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = idb.open(DB_NAME, VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      if (!db.objectStoreNames.contains('runs')) db.createObjectStore('runs', { keyPath: 'id' });
      if (!db.objectStoreNames.contains('rollouts')) db.createObjectStore('rollouts');
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

interface StoredRollout extends Omit<RolloutRecord, 'mean'> {
  mean: ArrayBuffer | null;
}

export class IdbRolloutStore implements RolloutStore {
  private seq = -1;
  constructor(
    private readonly db: IDBDatabase,
    readonly runId: string,
  ) {}

  private range(): IDBKeyRange {
    return IDBKeyRange.bound([this.runId, 0], [this.runId, Number.MAX_SAFE_INTEGER]);
  }

  private async nextSeq(): Promise<number> {
    if (this.seq < 0) {
      const tx = this.db.transaction('rollouts', 'readonly');
      const keys = (await req(tx.objectStore('rollouts').getAllKeys(this.range()))) as [string, number][];
      this.seq = keys.length ? keys[keys.length - 1][1] + 1 : 0;
    }
    return this.seq;
  }

  async append(records: readonly RolloutRecord[]): Promise<void> {
    let s = await this.nextSeq();
    const tx = this.db.transaction('rollouts', 'readwrite');
    const os = tx.objectStore('rollouts');
    for (const r of records) {
      const v: StoredRollout = { ...r, ids: [...r.ids], mean: r.mean ? r.mean.slice().buffer : null };
      os.put(v, [this.runId, s++]);
    }
    await done(tx);
    this.seq = s;
  }

  async scan(fn: (r: RolloutRecord) => void | Promise<void>): Promise<void> {
    await this.scanFrom(0, fn);
  }

  /**
   * The rollouts stored at positions >= `from`, in order; resolves with the position after the last
   * one (`from` when there was none), where a later read picks up.
   */
  async scanFrom(from: number, fn: (r: RolloutRecord) => void | Promise<void>): Promise<number> {
    // Read in pages (a cursor cannot wait for `fn`), keeping memory to one page of means.
    for (;;) {
      const tx = this.db.transaction('rollouts', 'readonly');
      const range = IDBKeyRange.bound([this.runId, from], [this.runId, Number.MAX_SAFE_INTEGER]);
      const os = tx.objectStore('rollouts');
      const [values, keys] = await Promise.all([req(os.getAll(range, 64)) as Promise<StoredRollout[]>, req(os.getAllKeys(range, 64)) as Promise<[string, number][]>]);
      if (values.length === 0) return from;
      for (const v of values) await fn({ ...v, mean: v.mean ? new Float32Array(v.mean) : null });
      from = keys[keys.length - 1][1] + 1;
    }
  }

  async count(): Promise<number> {
    const tx = this.db.transaction('rollouts', 'readonly');
    return req(tx.objectStore('rollouts').count(this.range()));
  }
}

/**
 * Every run, newest first. `done` is at least the rollouts actually stored: the run record is
 * written after each batch without waiting, so a tab closed just after a batch was stored can
 * leave the record one batch behind what is kept.
 */
export async function listRuns(db: IDBDatabase): Promise<ExtractRunInfo[]> {
  const tx = db.transaction(['runs', 'rollouts'], 'readonly');
  const all = (await req(tx.objectStore('runs').getAll())) as ExtractRunInfo[];
  const rollouts = tx.objectStore('rollouts');
  const stored = await Promise.all(all.map((r) => req(rollouts.count(IDBKeyRange.bound([r.id, 0], [r.id, Number.MAX_SAFE_INTEGER])))));
  all.forEach((r, i) => { if (stored[i] > r.done) r.done = stored[i]; });
  return all.sort((a, b) => b.updatedAt - a.updatedAt);
}

export async function getRun(db: IDBDatabase, id: string): Promise<ExtractRunInfo | null> {
  const tx = db.transaction('runs', 'readonly');
  return ((await req(tx.objectStore('runs').get(id))) as ExtractRunInfo | undefined) ?? null;
}

export async function putRun(db: IDBDatabase, run: ExtractRunInfo): Promise<void> {
  const tx = db.transaction('runs', 'readwrite');
  tx.objectStore('runs').put(run);
  await done(tx);
}

/** Remove a run and all its rollouts. */
export async function deleteRun(db: IDBDatabase, id: string): Promise<void> {
  const tx = db.transaction(['runs', 'rollouts'], 'readwrite');
  tx.objectStore('runs').delete(id);
  tx.objectStore('rollouts').delete(IDBKeyRange.bound([id, 0], [id, Number.MAX_SAFE_INTEGER]));
  await done(tx);
}

/** A run's persona set as files, read from what it stored (no model, no paper data needed). */
export interface StoredRunFiles {
  run: ExtractRunInfo;
  /** The release layout (role_vectors/, trait_vectors/, default_vector.pt, assistant_axis.pt). */
  files: VirtualFile[];
  /** Rollouts stored (each once) and rollouts the run's settings plan. */
  stored: number;
  planned: number;
  /** The run has not stored every planned rollout (paused, still running, out of memory, stopped early). */
  partial: boolean;
  /** For people: "extraction run-… (Tiny)", with "partial: 12 of 40 rollouts" when it is not finished. */
  label: string;
}

interface RunSums {
  createdAt: number;
  /** The store position after the last rollout read. */
  next: number;
  agg: Aggregator;
  seen: Set<string>;
  perMember: Map<string, number>;
  emptyAnswers: number;
}

/**
 * A run's stored rollouts summed as the pipeline sums them (src/core/extract/aggregate.ts: each
 * member's vector the mean of its rollouts' means, the axis default minus the mean of the roles)
 * and written in the release layout, so the analysis worker, which has no model, opens an
 * `extraction:<runId>` source like any other folder. A run that is not finished is read as far as
 * it got, and its label says so. The sums are kept between reads: reading a run again (the live map
 * after each batch) reads only the rollouts stored since, not the whole run.
 */
export class StoredRunReader {
  private readonly sums = new Map<string, RunSums>();
  /** Rollouts read from IndexedDB so far (each read adds only what is new). */
  recordsRead = 0;

  constructor(private readonly db: IDBDatabase) {}

  async read(runId: string, signal?: AbortSignal): Promise<StoredRunFiles> {
    const run = await getRun(this.db, runId);
    if (!run) {
      this.sums.delete(runId);
      throw new DataError('no-run', `There is no extraction run "${runId}" in this browser; runs live in the browser that made them (Extraction tab).`);
    }
    const L = run.numLayers, d = run.hiddenSize;
    if (!Number.isSafeInteger(L) || !Number.isSafeInteger(d) || L < 1 || d < 1 || L * d > MAX_RUN_VALUES) {
      throw new DataError('run-shape', `The stored run "${runId}" says ${L} layers x ${d} dimensions, which is not a shape this app can hold.`);
    }
    let s = this.sums.get(runId);
    // A run deleted and started again under the same id begins a new store.
    if (!s || s.createdAt !== run.createdAt || s.agg.numLayers !== L || s.agg.dim !== d) {
      s = { createdAt: run.createdAt, next: 0, agg: new Aggregator(L, d), seen: new Set(), perMember: new Map(), emptyAnswers: 0 };
    }
    // Taken out while it is read: a read that fails or is cancelled halfway leaves nothing
    // half-summed behind (the next read starts over).
    this.sums.delete(runId);
    const sums = s;
    sums.next = await new IdbRolloutStore(this.db, runId).scanFrom(sums.next, (r) => {
      if (signal?.aborted) throw signal.reason ?? new DOMException('Loading was cancelled.', 'AbortError');
      this.recordsRead++;
      // A key stored twice counts once, as in the pipeline.
      if (sums.seen.has(r.key)) return;
      sums.seen.add(r.key);
      sums.agg.add(r.kind, r.member, r.key, r.mean);
      if (!r.mean) sums.emptyAnswers++;
      sums.perMember.set(`${r.kind}:${r.member}`, (sums.perMember.get(`${r.kind}:${r.member}`) ?? 0) + 1);
    });
    this.sums.set(runId, sums);
    while (this.sums.size > KEPT_RUNS) this.sums.delete(this.sums.keys().next().value!);
    return runFiles(run, sums);
  }
}

function runFiles(run: ExtractRunInfo, s: RunSums): StoredRunFiles {
  const { agg } = s;
  const roles = agg.names('role'), traits = agg.names('trait');
  if (roles.length + traits.length === 0) throw new DataError('empty', `The extraction run "${run.id}" has no finished role or trait yet; open it once one has rollouts.`);
  const vectors = new Map<string, Float32Array>();
  for (const n of roles) vectors.set(`role:${n}`, agg.vector('role', n)!);
  for (const n of traits) vectors.set(`trait:${n}`, agg.vector('trait', n)!);
  const planned = countRollouts(run.settings).rollouts;
  const stored = s.seen.size;
  const partial = stored < planned;
  const result: ExtractionResult = {
    status: partial ? 'paused' : 'complete',
    message: null,
    numLayers: agg.numLayers,
    hiddenSize: agg.dim,
    roles,
    traits,
    vectors,
    defaultVector: agg.vector('default', 'default'),
    axis: agg.axis(),
    calibration: null,
    counts: { rollouts: stored, planned, resumed: stored, generated: 0, emptyAnswers: s.emptyAnswers, perMember: new Map(s.perMember) },
    stability: agg.stability(),
    generatedTokens: 0,
    seconds: 0,
  };
  const files = releaseFiles(result)
    .filter((f) => f.path.endsWith('.pt'))
    .map((f): VirtualFile => ({ path: f.path, size: f.bytes.length, read: async () => f.bytes }));
  const who = run.modelName ? ` (${run.modelName})` : '';
  const how = run.status === 'stable' ? 'stopped when stable' : run.status === 'running' ? 'partial, still running' : 'partial';
  const label = `extraction ${run.id}${who}${partial ? `, ${how}: ${stored} of ${planned} rollouts` : ''}`;
  return { run, files, stored, planned, partial, label };
}

/** Runs whose sums a reader keeps (the live one and one more; each is members x layers x d float64, as the model worker holds for a running run). */
const KEPT_RUNS = 2;

/** Most numbers (layers x d) a stored run may hold per member: 256 layers x 16384, as a synthetic set's bound. */
const MAX_RUN_VALUES = 256 * 16_384;
