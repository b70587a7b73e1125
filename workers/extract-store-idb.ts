/**
 * The browser's rollout store: IndexedDB, one database for every run. `runs` holds one record per
 * run (the list the page shows); `rollouts` holds every finished rollout keyed [runId, seq] so a
 * run reads back in the order it was stored. Each batch is one transaction: it is stored whole or
 * not at all, so a closed tab costs at most the batch in flight.
 */
import type { RolloutRecord, RolloutStore } from '../src/core/extract/store';
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
    // Read in pages (a cursor cannot wait for `fn`), keeping memory to one page of means.
    let from = 0;
    for (;;) {
      const tx = this.db.transaction('rollouts', 'readonly');
      const range = IDBKeyRange.bound([this.runId, from], [this.runId, Number.MAX_SAFE_INTEGER]);
      const os = tx.objectStore('rollouts');
      const [values, keys] = await Promise.all([req(os.getAll(range, 64)) as Promise<StoredRollout[]>, req(os.getAllKeys(range, 64)) as Promise<[string, number][]>]);
      if (values.length === 0) return;
      for (const v of values) await fn({ ...v, mean: v.mean ? new Float32Array(v.mean) : null });
      from = keys[keys.length - 1][1] + 1;
    }
  }

  async count(): Promise<number> {
    const tx = this.db.transaction('rollouts', 'readonly');
    return req(tx.objectStore('rollouts').count(this.range()));
  }
}

export async function listRuns(db: IDBDatabase): Promise<ExtractRunInfo[]> {
  const tx = db.transaction('runs', 'readonly');
  const all = (await req(tx.objectStore('runs').getAll())) as ExtractRunInfo[];
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
