/**
 * src/core/hub against e2e/hub-server.ts (a local hub): progress, drops and resuming retries,
 * cancel, listings, the cache (a second load makes no request), and the server itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../../../e2e/hub-server';
import { makeTmpRepos, firstDifference, type TmpRepos } from '../../../e2e/fixtures/tmp-repo';
import { fetchWithProgress, retryAfterMs, type ByteProgress } from './fetch';
import { listHubFolder } from './list';
import { downloadFiles, type DownloadProgress } from './download';
import { MemoryFileCache } from './cache';
import { loadHubSet, loadFromUrl } from './load';
import { hubFileUrl } from './url';
import { caught } from './hub.testkit';
import { writePt } from '../formats/pt';
import { tensorFromF32 } from '../tensor';

const REPO = 'test-org/vectors';
let tmp: TmpRepos;
let server: HubServer;
const files: Record<string, Uint8Array> = {};

function bytesOf(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A real PyTorch file of about `n` bytes (downloads named .pt must parse before they are cached). */
function ptOf(n: number, seed: number): Uint8Array {
  const v = new Float32Array(Math.max(1, Math.floor((n - 1200) / 4)));
  let x = seed;
  for (let i = 0; i < v.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    v[i] = x / 2 ** 32 - 0.5;
  }
  return writePt(tensorFromF32(v, [v.length]));
}

function put(rel: string, b: Uint8Array) {
  tmp.write(REPO, rel, b);
  files[rel] = b;
}

const url = (p: string) => hubFileUrl({ hub: server.origin, repo: REPO, type: 'dataset', path: p });

/** Byte equality without the generic deep-equal (which takes seconds on 600 kB). */
function expectBytes(got: Uint8Array, want: Uint8Array) {
  expect(got.length).toBe(want.length);
  expect(firstDifference(got, want)).toBe(-1);
}

beforeAll(async () => {
  tmp = makeTmpRepos();
  put('big.bin', bytesOf(600_000, 1));
  for (let i = 0; i < 7; i++) put(`set/role_vectors/r${i}.pt`, ptOf(10_000 + i * 1000, 10 + i));
  put('set/default_vector.pt', ptOf(5_000, 99));
  put('set/.gitattributes', new TextEncoder().encode('*.pt filter=lfs'));
  put('set/name with space.pt', ptOf(100, 5));
  server = await startHubServer({ root: { [REPO]: tmp.repoDir(REPO) }, type: 'dataset', pageSize: 3 });
});

afterAll(async () => {
  await server.close();
  tmp.remove();
});

describe('fetchWithProgress', () => {
  it('streams a file with monotonic byte progress up to the total', async () => {
    const events: ByteProgress[] = [];
    const got = await fetchWithProgress(url('big.bin'), { onProgress: (p) => events.push({ ...p }) });
    expectBytes(got, files['big.bin']);
    expect(events.length).toBeGreaterThan(2);
    expect(events.every((e) => e.total === 600_000)).toBe(true);
    for (let i = 1; i < events.length; i++) expect(events[i].loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);
    expect(events[events.length - 1].loaded).toBe(600_000);
  });

  it('gives a not-found sentence for a 404 and does not retry it', async () => {
    const before = server.count('nope.pt');
    const e = await caught(fetchWithProgress(url('set/nope.pt'), { retries: 3, retryDelayMs: 1 }));
    expect(e.code).toBe('not-found');
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/nope\.pt was not found .*404/);
    expect(server.count('nope.pt') - before).toBe(1);
  });

  it('a dropped connection without retries gives a clear network error', async () => {
    server.addFault({ path: 'big.bin', afterBytes: 200_000 });
    const e = await caught(fetchWithProgress(url('big.bin'), { retries: 0 }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/connection to 127\.0\.0\.1:\d+ dropped after 0\.2 MB of 0\.6 MB of big\.bin/);
  });

  it('a retry after a drop resumes with a Range request (206) and yields the exact bytes', async () => {
    server.addFault({ path: 'big.bin', afterBytes: 250_000 });
    const n0 = server.requests.length;
    const events: ByteProgress[] = [];
    const got = await fetchWithProgress(url('big.bin'), { retries: 2, retryDelayMs: 5, onProgress: (p) => events.push({ ...p }) });
    expectBytes(got, files['big.bin']);
    const reqs = server.requests.slice(n0).filter((r) => r.path.endsWith('big.bin'));
    expect(reqs).toHaveLength(2);
    expect(reqs[0]).toMatchObject({ status: 200, bytes: 250_000, fault: 'drop after 250000' });
    expect(reqs[1]).toMatchObject({ status: 206, range: 'bytes=250000-', bytes: 350_000 });
    // progress never went backwards across the resume
    for (let i = 1; i < events.length; i++) expect(events[i].loaded).toBeGreaterThanOrEqual(events[i - 1].loaded);
  });

  it('restarts from zero when the server ignores Range', async () => {
    const plain = await startHubServer({ root: { [REPO]: tmp.repoDir(REPO) }, ranges: false, faults: [{ path: 'big.bin', afterBytes: 100_000 }] });
    try {
      const u = hubFileUrl({ hub: plain.origin, repo: REPO, type: 'dataset', path: 'big.bin' });
      const got = await fetchWithProgress(u, { retries: 1, retryDelayMs: 1 });
      expectBytes(got, files['big.bin']);
      expect(plain.requests.map((r) => [r.status, r.bytes])).toEqual([
        [200, 100_000],
        [200, 600_000],
      ]);
    } finally {
      await plain.close();
    }
  });

  it('gives up after the retries with the number of attempts in the sentence', async () => {
    server.addFault({ path: 'big.bin', afterBytes: 1000, times: 3 });
    const e = await caught(fetchWithProgress(url('big.bin'), { retries: 2, retryDelayMs: 1 }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/\(3 attempts\)/);
    server.clearFaults();
  });

  it('retries a 5xx answer', async () => {
    server.addFault({ path: 'set/default_vector.pt', kind: 'status', status: 503 });
    const got = await fetchWithProgress(url('set/default_vector.pt'), { retries: 1, retryDelayMs: 1 });
    expectBytes(got, files['set/default_vector.pt']);
  });

  it('reads Retry-After as delay-seconds or an HTTP-date (a past date is 0), anything else as absent', () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:28:05 GMT', now)).toBe(5_000);
    expect(retryAfterMs('Wed, 21 Oct 2026 07:27:00 GMT', now)).toBe(0);
    for (const bad of [null, '', '-5', '1.5', 'soon', 'Wed, 21 Oct 2026', '9'.repeat(40)]) expect(retryAfterMs(bad, now)).toBeNull();
  });

  it('429 / 503 with Retry-After: waits what the server asks (bounded by the cap), then gets the file', async () => {
    const waits: { attempt: number; waitMs: number; retryAfterMs: number | null }[] = [];
    // 1 s asked: the backoff (1 ms) gives way to it.
    server.addFault({ path: 'set/default_vector.pt', kind: 'status', status: 429, headers: { 'Retry-After': '1' } });
    const got = await fetchWithProgress(url('set/default_vector.pt'), { retries: 1, retryDelayMs: 1, onRetry: (r) => waits.push(r) });
    expectBytes(got, files['set/default_vector.pt']);
    expect(waits).toEqual([{ attempt: 1, waitMs: 1000, retryAfterMs: 1000 }]);
    // An hour asked (as an HTTP-date), 40 ms allowed: it waits 40 ms, not an hour.
    waits.length = 0;
    const later = new Date(Date.now() + 3_600_000).toUTCString();
    server.addFault({ path: 'set/default_vector.pt', kind: 'status', status: 503, headers: { 'Retry-After': later } });
    await fetchWithProgress(url('set/default_vector.pt'), { retries: 1, retryDelayMs: 1, maxRetryAfterMs: 40, onRetry: (r) => waits.push(r) });
    expect(waits).toHaveLength(1);
    expect(waits[0].waitMs).toBe(40);
    expect(waits[0].retryAfterMs).toBeGreaterThan(3_590_000);
    // No Retry-After: the backoff as before.
    waits.length = 0;
    server.addFault({ path: 'set/default_vector.pt', kind: 'status', status: 503 });
    await fetchWithProgress(url('set/default_vector.pt'), { retries: 1, retryDelayMs: 7, onRetry: (r) => waits.push(r) });
    expect(waits).toEqual([{ attempt: 1, waitMs: 7, retryAfterMs: null }]);
  });

  it('Retry-After never outlasts a cancel or the overall timeout, and the last answer says what the server asked', async () => {
    server.addFault({ path: 'set/default_vector.pt', kind: 'status', status: 429, headers: { 'Retry-After': '20' }, times: 3 });
    // Cancelled during the 20 s wait.
    const ac = new AbortController();
    const p = fetchWithProgress(url('set/default_vector.pt'), { signal: ac.signal, retries: 2, onRetry: () => setTimeout(() => ac.abort(), 20) });
    expect((await caught(p)).code).toBe('aborted');
    // 20 s asked, 2 s left of the overall timeout: it stops with the timeout sentence at once.
    const t = await caught(fetchWithProgress(url('set/default_vector.pt'), { retries: 2, timeoutMs: 2_000 }));
    expect(t.code).toBe('timeout');
    // No retries left: the 429 sentence with the server's ask.
    const e = await caught(fetchWithProgress(url('set/default_vector.pt'), { retries: 0 }));
    expect(e.code).toBe('http');
    expect(e.status).toBe(429);
    expect(e.message).toMatch(/answered 429 .*for default_vector\.pt\. It asked to wait 20 s before trying again; try again later\./);
    server.clearFaults();
  });

  it('says when a server cannot be reached', async () => {
    const gone = await startHubServer({ root: tmp.root });
    const origin = gone.origin;
    await gone.close();
    const e = await caught(fetchWithProgress(`${origin}/datasets/${REPO}/resolve/main/big.bin`, { retries: 0 }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/Could not reach 127\.0\.0\.1:\d+ for big\.bin: you may be offline/);
  });

  it('cancels a stalled download promptly with an aborted error', async () => {
    server.addFault({ path: 'big.bin', kind: 'stall', afterBytes: 70_000 });
    const ac = new AbortController();
    const t0 = Date.now();
    const p = fetchWithProgress(url('big.bin'), {
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.loaded > 0) ac.abort();
      },
    });
    const e = await caught(p);
    expect(e.code).toBe('aborted');
    expect(e.message).toBe('The download of big.bin was cancelled.');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('listHubFolder', () => {
  it('lists a folder recursively across Link-paginated pages, with sizes, paths from the repo root', async () => {
    const list = await listHubFolder({ hub: server.origin, repo: REPO, type: 'dataset', path: 'set' });
    expect(list.map((f) => f.path)).toEqual([
      'set/.gitattributes',
      'set/default_vector.pt',
      'set/name with space.pt',
      ...Array.from({ length: 7 }, (_, i) => `set/role_vectors/r${i}.pt`),
    ]);
    expect(list.find((f) => f.path === 'set/role_vectors/r3.pt')?.size).toBe(files['set/role_vectors/r3.pt'].length);
    // 11 entries (10 files + 1 directory) in pages of 3
    expect(server.requests.filter((r) => r.path.startsWith('/api/datasets/test-org/vectors/tree/main/set')).length).toBeGreaterThanOrEqual(4);
  });

  it('404s on a missing folder with a sentence', async () => {
    const e = await caught(listHubFolder({ hub: server.origin, repo: REPO, type: 'dataset', path: 'missing' }));
    expect(e.code).toBe('not-found');
    expect(e.message).toMatch(/test-org\/vectors\/missing was not found/);
  });
});

describe('downloadFiles', () => {
  it('reports per-file and total progress (bytes and count), results in input order', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `set/role_vectors/r${i}.pt`);
    const events: DownloadProgress[] = [];
    const out = await downloadFiles(
      names.map((p) => ({ url: url(p), path: p, size: files[p].length })),
      { concurrency: 3, onProgress: (e) => events.push(structuredClone(e)) },
    );
    out.forEach((b, i) => expectBytes(b, files[names[i]]));
    const total = names.reduce((a, p) => a + files[p].length, 0);
    expect(events.every((e) => e.bytesTotal === total && e.filesTotal === 7)).toBe(true);
    const last = events[events.length - 1];
    expect(last.filesDone).toBe(7);
    expect(last.bytesLoaded).toBe(total);
    expect(events.filter((e) => e.file.done).map((e) => e.filesDone)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('the first failure cancels the rest and is thrown', async () => {
    const e = await caught(
      downloadFiles([{ url: url('set/default_vector.pt'), path: 'a' }, { url: url('set/absent.pt'), path: 'b' }], { concurrency: 1 }),
    );
    expect(e.code).toBe('not-found');
  });
});

describe('loadHubSet and the cache', () => {
  it('loads a hub folder into VirtualFiles; the second load is served from the cache with no request', async () => {
    const cache = new MemoryFileCache();
    const n0 = server.count();
    const first = await loadHubSet({ hub: server.origin, repo: REPO, type: 'dataset', path: 'set', cache });
    expect(first.map((f) => f.path).sort()).toEqual(['default_vector.pt', 'name with space.pt', ...Array.from({ length: 7 }, (_, i) => `role_vectors/r${i}.pt`)]);
    for (const f of first) expectBytes(await f.read(), files[`set/${f.path}`]);
    expect(server.count() - n0).toBeGreaterThan(9);

    const n1 = server.count();
    const events: DownloadProgress[] = [];
    const second = await loadHubSet({ hub: server.origin, repo: REPO, type: 'dataset', path: 'set', cache, onProgress: (e) => events.push(e) });
    expect(server.count()).toBe(n1);
    expect(second.map((f) => f.path)).toEqual(first.map((f) => f.path));
    for (const f of second) expectBytes(await f.read(), files[`set/${f.path}`]);
    expect(events[events.length - 1]).toMatchObject({ filesDone: 9, filesTotal: 9, filesCached: 9 });

    const sets = await cache.list();
    expect(sets).toHaveLength(1);
    const expectedBytes = first.reduce((a, f) => a + (f.size ?? 0), 0);
    expect(sets[0]).toMatchObject({ label: 'test-org/vectors/set', files: 9, bytes: expectedBytes, complete: true });
    expect(sets[0].source).toBe(`${server.origin}/datasets/test-org/vectors/tree/main/set`);
    await cache.deleteSet(sets[0].id);
    expect(await cache.list()).toEqual([]);
    expect(cache.size).toBe(0);
  });

  it('a drop mid-set fails the load with a clear error; loading again succeeds and the set is then cached', async () => {
    const cache = new MemoryFileCache();
    server.addFault({ path: 'set/role_vectors/r4.pt', afterBytes: 3000 });
    const e = await caught(loadHubSet({ hub: server.origin, repo: REPO, type: 'dataset', path: 'set', cache, retries: 0 }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/dropped after .* of r4\.pt/);
    expect((await cache.list())[0]).toMatchObject({ complete: false });
    // the files finished before the drop are reused from the cache: the second click continues
    const n0 = server.count('/resolve/');
    let cachedFiles = -1;
    const again = await loadHubSet({ hub: server.origin, repo: REPO, type: 'dataset', path: 'set', cache, retries: 0, onProgress: (p) => (cachedFiles = p.filesCached) });
    expect(cachedFiles).toBeGreaterThan(0);
    expect(server.count('/resolve/') - n0).toBe(9 - cachedFiles);
    expectBytes(await again.find((f) => f.path === 'role_vectors/r4.pt')!.read(), files['set/role_vectors/r4.pt']);
    expect((await cache.list())[0]).toMatchObject({ complete: true, files: 9 });
  });

  it('loadFromUrl takes a pasted folder page, an hf:// path or a file URL', async () => {
    const folder = await loadFromUrl(`${server.origin}/datasets/${REPO}/tree/main/set/role_vectors`);
    expect(folder.source.kind).toBe('hub-folder');
    expect(folder.files.map((f) => f.path)).toEqual(Array.from({ length: 7 }, (_, i) => `r${i}.pt`));
    const hf = await loadFromUrl(`hf://datasets/${REPO}/set/default_vector.pt`, { hub: server.origin });
    expect(hf.files).toHaveLength(1);
    expectBytes(await hf.files[0].read(), files['set/default_vector.pt']);
    const cache = new MemoryFileCache();
    const plain = await loadFromUrl(url('set/name with space.pt'), { cache });
    expect(plain.files[0].path).toBe('name with space.pt');
    const n = server.count();
    await loadFromUrl(url('set/name with space.pt'), { cache });
    expect(server.count()).toBe(n);
  });
});

describe('hub server', () => {
  it('answers HEAD, suffix ranges, ETag revalidation, CORS preflight, and refuses path escapes', async () => {
    const head = await fetch(url('big.bin'), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('600000');
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect(head.headers.get('access-control-allow-origin')).toBe('*');
    const tail = await fetch(url('big.bin'), { headers: { Range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 599990-599999/600000');
    expectBytes(new Uint8Array(await tail.arrayBuffer()), files['big.bin'].slice(599_990));
    const bad = await fetch(url('big.bin'), { headers: { Range: 'bytes=700000-' } });
    expect(bad.status).toBe(416);
    const etag = head.headers.get('etag')!;
    expect((await fetch(url('big.bin'), { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const pre = await fetch(url('big.bin'), { method: 'OPTIONS', headers: { Origin: 'http://x', 'Access-Control-Request-Headers': 'range' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Range/);
    const escape = await fetch(`${server.origin}/datasets/${REPO}/resolve/main/..%2F..%2Fetc%2Fpasswd`);
    expect(escape.status).toBe(404);
    expect((await fetch(`${server.origin}/datasets/other/repo/resolve/main/x.pt`)).headers.get('x-error-code')).toBe('RepoNotFound');
  });

  it('serves model repos and follows an LFS-style redirect', async () => {
    const s = await startHubServer({ root: { 'org/tiny-model': { dir: tmp.repoDir(REPO), type: 'model' } }, redirect: true });
    try {
      const got = await fetchWithProgress(hubFileUrl({ hub: s.origin, repo: 'org/tiny-model', path: 'set/default_vector.pt' }));
      expectBytes(got, files['set/default_vector.pt']);
      expect(s.requests.map((r) => r.status)).toEqual([302, 200]);
      expect((await fetch(hubFileUrl({ hub: s.origin, repo: 'org/tiny-model', type: 'dataset', path: 'big.bin' }))).status).toBe(404);
    } finally {
      await s.close();
    }
  });
});
