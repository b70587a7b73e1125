/**
 * Caches of downloaded files, keyed by URL, with an index of "sets" (one hub folder or release
 * model = one set) so the UI can list what is stored, with sizes, and delete a set.
 *
 * `BrowserFileCache` keeps bytes in the Cache API (persistent, per origin, works offline);
 * `MemoryFileCache` keeps them in a Map (Node, tests, or a browser without the Cache API).
 */

export interface CachedFile {
  /** Path inside the set, e.g. `role_vectors/ghost.pt`. */
  path: string;
  url: string;
  size: number;
}

export interface CachedSetRecord {
  /** Stable id, e.g. `dataset:lu-christina/assistant-axis-vectors@main/qwen-3-32b` (see `hubSetId`). */
  id: string;
  /** What a person reads in the cached-sets list. */
  label: string;
  /** Where it came from (a hub folder page URL or a file URL), for reloading. */
  source: string;
  files: CachedFile[];
  /** True once every file of the set is stored. */
  complete: boolean;
  /** ms since epoch of the last write. */
  updatedAt: number;
}

export interface CachedSetInfo {
  id: string;
  label: string;
  source: string;
  files: number;
  bytes: number;
  complete: boolean;
  updatedAt: number;
}

export interface FileCache {
  get(url: string): Promise<Uint8Array | null>;
  has(url: string): Promise<boolean>;
  /** Store bytes; returns false when the store refused (quota), which callers may ignore. */
  put(url: string, bytes: Uint8Array, setId?: string): Promise<boolean>;
  /** Create or replace a set's index entry. */
  recordSet(set: Omit<CachedSetRecord, 'updatedAt'>): Promise<void>;
  getSet(id: string): Promise<CachedSetRecord | null>;
  /** Every set, newest first, with file counts and sizes. */
  list(): Promise<CachedSetInfo[]>;
  /** Remove a set and every file no other set uses. */
  deleteSet(id: string): Promise<void>;
  clear(): Promise<void>;
}

interface Index {
  version: 1;
  sets: Record<string, CachedSetRecord>;
}

/** Shared index logic; subclasses store bytes and the index JSON. */
abstract class IndexedFileCache implements FileCache {
  private chain: Promise<unknown> = Promise.resolve();

  protected abstract readBytes(key: string): Promise<Uint8Array | null>;
  protected abstract writeBytes(key: string, bytes: Uint8Array): Promise<boolean>;
  protected abstract removeBytes(key: string): Promise<void>;
  protected abstract readIndex(): Promise<Index | null>;
  protected abstract writeIndex(index: Index): Promise<void>;
  protected abstract removeAll(): Promise<void>;

  /** Index updates are read-modify-write: run them one at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => {});
    return next;
  }

  private async index(): Promise<Index> {
    const idx = await this.readIndex();
    return idx && idx.version === 1 && idx.sets ? idx : { version: 1, sets: {} };
  }

  get(url: string): Promise<Uint8Array | null> {
    return this.readBytes(url);
  }
  async has(url: string): Promise<boolean> {
    return (await this.readBytes(url)) != null;
  }
  put(url: string, bytes: Uint8Array, _setId?: string): Promise<boolean> {
    return this.writeBytes(url, bytes);
  }
  recordSet(set: Omit<CachedSetRecord, 'updatedAt'>): Promise<void> {
    return this.serial(async () => {
      const idx = await this.index();
      idx.sets[set.id] = { ...set, files: set.files.map((f) => ({ ...f })), updatedAt: Date.now() };
      await this.writeIndex(idx);
    });
  }
  async getSet(id: string): Promise<CachedSetRecord | null> {
    return (await this.index()).sets[id] ?? null;
  }
  async list(): Promise<CachedSetInfo[]> {
    const idx = await this.index();
    return Object.values(idx.sets)
      .map((s) => ({
        id: s.id,
        label: s.label,
        source: s.source,
        files: s.files.length,
        bytes: s.files.reduce((a, f) => a + f.size, 0),
        complete: s.complete,
        updatedAt: s.updatedAt,
      }))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }
  deleteSet(id: string): Promise<void> {
    return this.serial(async () => {
      const idx = await this.index();
      const set = idx.sets[id];
      if (!set) return;
      delete idx.sets[id];
      const stillUsed = new Set<string>();
      for (const s of Object.values(idx.sets)) for (const f of s.files) stillUsed.add(f.url);
      for (const f of set.files) if (!stillUsed.has(f.url)) await this.removeBytes(f.url);
      await this.writeIndex(idx);
    });
  }
  clear(): Promise<void> {
    return this.serial(() => this.removeAll());
  }
}

/** In-memory cache (Node, tests). Counts reads and writes so tests can check what hit. */
export class MemoryFileCache extends IndexedFileCache {
  private files = new Map<string, Uint8Array>();
  private idx: Index | null = null;
  hits = 0;
  misses = 0;

  protected async readBytes(key: string): Promise<Uint8Array | null> {
    const b = this.files.get(key);
    if (b) this.hits++;
    else this.misses++;
    return b ?? null;
  }
  protected async writeBytes(key: string, bytes: Uint8Array): Promise<boolean> {
    this.files.set(key, bytes);
    return true;
  }
  protected async removeBytes(key: string): Promise<void> {
    this.files.delete(key);
  }
  protected async readIndex(): Promise<Index | null> {
    return this.idx ? (JSON.parse(JSON.stringify(this.idx)) as Index) : null;
  }
  protected async writeIndex(index: Index): Promise<void> {
    this.idx = JSON.parse(JSON.stringify(index)) as Index;
  }
  protected async removeAll(): Promise<void> {
    this.files.clear();
    this.idx = null;
  }
  /** Number of stored files (for tests). */
  get size(): number {
    return this.files.size;
  }
}

/** Synthetic key of the index entry inside the Cache API store (never fetched). */
const INDEX_KEY = 'https://persona-space.invalid/cache-index.json';

/**
 * Cache API store (browsers, secure contexts incl. localhost/127.0.0.1). Check
 * `BrowserFileCache.available()` first; where it is false use MemoryFileCache.
 */
export class BrowserFileCache extends IndexedFileCache {
  constructor(readonly cacheName = 'persona-space-files-v1') {
    super();
  }

  static available(): boolean {
    return typeof caches !== 'undefined' && typeof caches.open === 'function';
  }

  private store(): Promise<Cache> {
    return caches.open(this.cacheName);
  }

  protected async readBytes(key: string): Promise<Uint8Array | null> {
    const res = await (await this.store()).match(key);
    if (!res) return null;
    return new Uint8Array(await res.arrayBuffer());
  }
  protected async writeBytes(key: string, bytes: Uint8Array): Promise<boolean> {
    try {
      const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
      await (await this.store()).put(key, new Response(body, { headers: { 'content-length': String(bytes.length) } }));
      return true;
    } catch {
      // Quota exceeded or storage disabled: the download still succeeds, it just is not kept.
      return false;
    }
  }
  protected async removeBytes(key: string): Promise<void> {
    await (await this.store()).delete(key);
  }
  protected async readIndex(): Promise<Index | null> {
    const res = await (await this.store()).match(INDEX_KEY);
    if (!res) return null;
    try {
      return (await res.json()) as Index;
    } catch {
      return null;
    }
  }
  protected async writeIndex(index: Index): Promise<void> {
    await (await this.store()).put(INDEX_KEY, new Response(JSON.stringify(index), { headers: { 'content-type': 'application/json' } }));
  }
  protected async removeAll(): Promise<void> {
    await caches.delete(this.cacheName);
  }
}

/** The cache to use here: the Cache API when present, else memory. */
export function defaultFileCache(): FileCache {
  return BrowserFileCache.available() ? new BrowserFileCache() : new MemoryFileCache();
}
