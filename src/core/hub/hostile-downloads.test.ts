/**
 * Downloads from servers that lie, stall or flood: each case ends in one HubError sentence, and
 * nothing of the bad answer is cached (so the next attempt is not poisoned). Local node:http and
 * raw TCP servers answer exactly what each case needs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { writePt } from '../formats/pt';
import { tensorFromF32 } from '../tensor';
import { MemoryFileCache } from './cache';
import { downloadFiles } from './download';
import { caught } from './hub.testkit';
import { fetchWithProgress } from './fetch';
import { listHubFolder } from './list';
import { loadHubSet, loadUrlFile } from './load';

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

const open: (Server | TcpServer)[] = [];
const sockets = new Set<Socket>();

async function serve(handler: Handler): Promise<{ origin: string; hits: () => number; times: number[] }> {
  let n = 0;
  const times: number[] = [];
  const s = createServer((req, res) => {
    times.push(Date.now());
    handler(req, res, n++);
  });
  s.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  open.push(s);
  const port = (s.address() as { port: number }).port;
  return { origin: `http://127.0.0.1:${port}`, hits: () => n, times };
}

/** A raw TCP server writing `answer` verbatim (for what node:http refuses to send). */
async function serveRaw(answer: (n: number) => string | Buffer): Promise<string> {
  let n = 0;
  const s = createTcpServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.once('data', () => c.end(answer(n++)));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  open.push(s);
  return `http://127.0.0.1:${(s.address() as { port: number }).port}`;
}

afterEach(async () => {
  for (const c of sockets) c.destroy();
  sockets.clear();
  await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function pt(n: number, seed = 1): Uint8Array {
  const v = Float32Array.from({ length: n }, (_, i) => Math.sin(i * seed));
  return writePt(tensorFromF32(v, [n]));
}

const HTML = '<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please sign in</body></html>';
const fast = { retryDelayMs: 1, idleTimeoutMs: 2000 };

describe('answers that are not the file are refused and never cached', () => {
  it('an HTML page served with 200 (text/html) for a .safetensors: a sentence, nothing cached, no row left', async () => {
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(HTML);
    });
    const cache = new MemoryFileCache();
    const e = await caught(loadUrlFile(`${srv.origin}/files/vectors.safetensors`, { cache, ...fast }));
    expect(e.code).toBe('bad-response');
    expect(e.message).toMatch(/^127\.0\.0\.1:\d+ answered with a web page \(text\/html\) instead of vectors\.safetensors: the address may lead to a sign-in, error or index page rather than the file; nothing was kept\.$/);
    expect(cache.size).toBe(0);
    expect(await cache.list()).toEqual([]);
    expect(srv.hits()).toBe(1); // not retried: a web page is an answer, not a hiccup
  });

  it('an HTML page without an HTML content type (.json, .pt) is recognised by its first bytes', async () => {
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      res.end('\n\n  ' + HTML);
    });
    const cache = new MemoryFileCache();
    for (const f of ['config.json', 'ghost.pt', 'model.onnx']) {
      const e = await caught(fetchWithProgress(`${srv.origin}/r/${f}`, { cache, ...fast }));
      expect(e.code).toBe('bad-response');
      expect(e.message).toContain(`answered with a web page instead of ${f}`);
    }
    expect(cache.size).toBe(0);
  });

  it('bytes that do not parse as the named format (a truncated .pt, JSON for a .npy) are refused before caching', async () => {
    const good = pt(64);
    const srv = await serve((req, res) => {
      if (req.url!.endsWith('cut.pt')) return res.end(Buffer.from(good.subarray(0, good.length - 40)));
      if (req.url!.endsWith('a.npy')) return res.end('[1, 2, 3]');
      res.end(Buffer.from(good));
    });
    const cache = new MemoryFileCache();
    const cut = await caught(loadUrlFile(`${srv.origin}/x/cut.pt`, { cache, ...fast }));
    expect(cut.code).toBe('bad-response');
    expect(cut.message).toMatch(/sent cut\.pt, but it is not a PyTorch file \(.+\); nothing was kept\.$/);
    const npy = await caught(loadUrlFile(`${srv.origin}/x/a.npy`, { cache, ...fast }));
    expect(npy.message).toMatch(/sent a\.npy, but it reads as JSON, not a NumPy \.npy file; nothing was kept\./);
    expect(cache.size).toBe(0);
    const ok = await loadUrlFile(`${srv.origin}/x/ok.pt`, { cache, ...fast });
    expect((await ok[0].read()).length).toBe(good.length);
    expect(cache.size).toBe(1);
  });

  it('a hub folder with one web page among its files fails naming it, keeps the good files, and loads once the server is fixed', async () => {
    let broken = true;
    const files: Record<string, Uint8Array> = { 'set/a.pt': pt(16, 1), 'set/b.pt': pt(16, 2), 'set/c.pt': pt(16, 3) };
    const srv = await serve((req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (u.pathname.startsWith('/api/datasets/o/n/tree/main/set')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify(Object.entries(files).map(([path, b]) => ({ type: 'file', path, size: b.length }))));
      }
      const rel = decodeURIComponent(u.pathname.replace('/datasets/o/n/resolve/main/', ''));
      if (rel === 'set/b.pt' && broken) {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end(HTML);
      }
      res.end(Buffer.from(files[rel]));
    });
    const cache = new MemoryFileCache();
    const opts = { hub: srv.origin, repo: 'o/n', type: 'dataset' as const, path: 'set', cache, concurrency: 1, ...fast };
    const e = await caught(loadHubSet(opts));
    expect(e.code).toBe('bad-response');
    expect(e.message).toContain('instead of b.pt');
    expect(await cache.has(`${srv.origin}/datasets/o/n/resolve/main/set/b.pt`)).toBe(false);
    expect(await cache.has(`${srv.origin}/datasets/o/n/resolve/main/set/a.pt`)).toBe(true);
    broken = false;
    const set = await loadHubSet(opts);
    expect(set.map((f) => f.path)).toEqual(['a.pt', 'b.pt', 'c.pt']);
    expect((await cache.list())[0]).toMatchObject({ complete: true, files: 3 });
  });

  it('a body of another size than the folder listing says is refused', async () => {
    const b = pt(32);
    const srv = await serve((req, res) => {
      if (req.url!.startsWith('/api/')) return res.end(JSON.stringify([{ type: 'file', path: 'set/a.pt', size: b.length + 100 }]));
      res.end(Buffer.from(b));
    });
    const cache = new MemoryFileCache();
    const e = await caught(loadHubSet({ hub: srv.origin, repo: 'o/n', path: 'set', cache, ...fast }));
    expect(e.code).toBe('bad-response');
    expect(e.message).toBe(`127.0.0.1:${new URL(srv.origin).port} sent ${b.length} bytes of a.pt where the folder listing says ${b.length + 100}; nothing was kept.`);
    expect(cache.size).toBe(0);
  });
});

describe('short bodies and ranges', () => {
  it('a body shorter than its Content-Length is a drop: retried, then a sentence; nothing cached', async () => {
    const url = await serveRaw(() => 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n' + 'x'.repeat(500));
    const cache = new MemoryFileCache();
    const e = await caught(fetchWithProgress(`${url}/f.bin`, { cache, retries: 1, ...fast }));
    expect(e.code).toBe('network');
    expect(e.message).toMatch(/dropped after 0\.0 MB of 0\.0 MB of f\.bin \(2 attempts\); try again\.$/);
    expect(cache.size).toBe(0);
  });

  it('a body that ends quietly short of its Content-Length (a lenient stack) is not accepted either', async () => {
    const lenient = (async () => new Response(new Uint8Array(500), { headers: { 'content-length': '1000' } })) as unknown as typeof fetch;
    const cache = new MemoryFileCache();
    const e = await caught(fetchWithProgress('http://h.invalid/f.bin', { fetch: lenient, cache, retries: 1, ...fast }));
    expect(e.code).toBe('network');
    expect(cache.size).toBe(0);
  });

  it('a 206 with the wrong range after a drop restarts from zero, then gives a sentence', async () => {
    const body = Buffer.alloc(4000, 7);
    const srv = await serve((req, res, n) => {
      if (n === 0) {
        res.writeHead(200, { 'Content-Length': '4000' });
        res.write(body.subarray(0, 1000));
        return setTimeout(() => res.socket?.destroy(), 20);
      }
      // answers every Range request with the first bytes
      res.writeHead(206, { 'Content-Length': '1000', 'Content-Range': 'bytes 0-999/4000' });
      res.end(body.subarray(0, 1000));
    });
    const cache = new MemoryFileCache();
    const e = await caught(fetchWithProgress(`${srv.origin}/f.bin`, { cache, retries: 1, ...fast }));
    expect(e.code).toBe('bad-response');
    expect(e.message).toMatch(/answered the request for the rest of f\.bin \(from byte 1000\) with bytes 0-999; nothing was kept\.$/);
    expect(cache.size).toBe(0);
  });

  it('a 206 for a request without Range, or one longer than its range, is refused', async () => {
    const part = (async () => new Response(new Uint8Array(100), { status: 206, headers: { 'content-range': 'bytes 100-199/1000', 'content-length': '100' } })) as unknown as typeof fetch;
    const e = await caught(fetchWithProgress('http://h.invalid/f.bin', { fetch: part, ...fast }));
    expect(e.code).toBe('bad-response');
    expect(e.message).toBe('h.invalid answered with part of f.bin (bytes 100-199 of 1000) although the whole file was asked for; nothing was kept.');
    let calls = 0;
    const long = (async () =>
      ++calls === 1
        ? new Response(new ReadableStream({ start(c) { c.enqueue(new Uint8Array(10)); }, pull(c) { c.error(new Error('reset')); } }), { headers: { 'content-length': '20', etag: '"a"' } })
        : new Response(new Uint8Array(30), { status: 206, headers: { 'content-range': 'bytes 10-19/20', etag: '"a"' } })) as unknown as typeof fetch;
    const e2 = await caught(fetchWithProgress('http://h.invalid/f.bin', { fetch: long, ...fast }));
    expect(e2.message).toBe('h.invalid sent more than the 10 bytes it announced for f.bin; nothing was kept.');
  });

  it('a file that changed between attempts (new ETag on the 206) is downloaded again from zero', async () => {
    let version = 1;
    const content = (v: number) => Buffer.alloc(3000, v);
    const srv = await serve((req, res, n) => {
      const b = content(version);
      const etag = `"v${version}"`;
      if (n === 0) {
        res.writeHead(200, { 'Content-Length': String(b.length), ETag: etag });
        res.write(b.subarray(0, 1000));
        version = 2;
        return setTimeout(() => res.socket?.destroy(), 20);
      }
      const m = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
      if (m) {
        const start = Number(m[1]);
        res.writeHead(206, { 'Content-Length': String(b.length - start), 'Content-Range': `bytes ${start}-${b.length - 1}/${b.length}`, ETag: etag });
        return res.end(b.subarray(start));
      }
      res.writeHead(200, { 'Content-Length': String(b.length), ETag: etag });
      res.end(b);
    });
    const got = await fetchWithProgress(`${srv.origin}/f.bin`, { retries: 3, ...fast });
    expect(got.every((x) => x === 2)).toBe(true);
    expect(got.length).toBe(3000);
    expect(srv.hits()).toBe(3);
  });
});

describe('stalls and timeouts', () => {
  it('a server that never answers times out per attempt, retries with growing waits, then says so', async () => {
    const srv = await serve(() => {
      /* never answers */
    });
    const t0 = Date.now();
    const e = await caught(fetchWithProgress(`${srv.origin}/slow.pt`, { idleTimeoutMs: 150, retries: 2, retryDelayMs: 60 }));
    expect(e.code).toBe('timeout');
    expect(e.message).toBe(`127.0.0.1:${new URL(srv.origin).port} stopped sending slow.pt: nothing arrived for 0.15 s (3 attempts); the server may be overloaded, try again later.`);
    expect(srv.hits()).toBe(3);
    // Three 150 ms attempts and waits of 60 then 120 ms (doubling): at least 630 ms on the client's
    // clock (timers never fire early; with a constant 60 ms wait it would be 570 ms).
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(3 * 150 + 60 + 120 - 5);
    expect(took).toBeLessThan(10_000);
  });

  it('a stall mid-body is retried with a Range request and completes', async () => {
    const b = Buffer.alloc(5000, 3);
    const srv = await serve((req, res, n) => {
      const m = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
      if (n === 0) {
        res.writeHead(200, { 'Content-Length': '5000' });
        res.write(b.subarray(0, 2000)); // then nothing
        return;
      }
      const start = m ? Number(m[1]) : 0;
      res.writeHead(m ? 206 : 200, { 'Content-Length': String(5000 - start), ...(m ? { 'Content-Range': `bytes ${start}-4999/5000` } : {}) });
      res.end(b.subarray(start));
    });
    const got = await fetchWithProgress(`${srv.origin}/f.bin`, { idleTimeoutMs: 150, retries: 1, retryDelayMs: 1 });
    expect(got.length).toBe(5000);
    expect(srv.hits()).toBe(2);
  });

  it('a server that trickles forever hits the overall timeout, which is not retried', async () => {
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Length': '100000' });
      const t = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(t));
    });
    const e = await caught(fetchWithProgress(`${srv.origin}/f.bin`, { idleTimeoutMs: 1000, timeoutMs: 300, retries: 3, retryDelayMs: 1 }));
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/^Downloading f\.bin from 127\.0\.0\.1:\d+ took longer than 0\.3 s after 0\.0 MB; try again on a faster connection\.$/);
    expect(srv.hits()).toBe(1);
  });
});

describe('sizes', () => {
  it('a Content-Length above the per-file cap is refused before reading the body', async () => {
    let sent = 0;
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Length': String(50 * 2 ** 20) });
      const chunk = Buffer.alloc(65536);
      const t = setInterval(() => {
        sent += chunk.length;
        res.write(chunk);
      }, 5);
      res.on('close', () => clearInterval(t));
    });
    const seen: number[] = [];
    const e = await caught(fetchWithProgress(`${srv.origin}/big.pt`, { maxBytes: 2 ** 20, onProgress: (p) => seen.push(p.loaded), ...fast }));
    expect(e.code).toBe('too-large');
    expect(e.message).toBe('big.pt (52 MB) is larger than the 1 MiB one download may hold; it was not downloaded.');
    expect(seen).toEqual([]);
    expect(sent).toBeLessThan(8 * 2 ** 20);
  });

  it.each([
    ['-5', /announced an impossible size for f\.bin \(Content-Length "-5"\)/],
    ['abc', /announced an impossible size for f\.bin \(Content-Length "abc"\)/],
    ['1e9', /Content-Length "1e9"/],
    ['99999999999999999999', /Content-Length 99999999999999999999, beyond 2\^53 bytes/],
    ['9007199254740993', /beyond 2\^53 bytes/],
  ])('an absurd Content-Length %s gives a sentence (as the headers arrive)', async (cl, re) => {
    const f = (async () => new Response(new Uint8Array(10), { headers: { 'content-length': cl } })) as unknown as typeof fetch;
    const e = await caught(fetchWithProgress('http://h.invalid/f.bin', { fetch: f, ...fast }));
    expect(e.code).toBe('bad-response');
    expect(e.message).toMatch(re);
    expect(e.message).toMatch(/; nothing was kept\.$/);
  });

  it('absurd Content-Length values on the wire: the ones Node refuses get a sentence too, not "offline"', async () => {
    for (const cl of ['-5', 'abc', '99999999999999999999']) {
      const url = await serveRaw(() => `HTTP/1.1 200 OK\r\nContent-Length: ${cl}\r\nConnection: close\r\n\r\n0123456789`);
      const e = await caught(fetchWithProgress(`${url}/f.bin`, { retries: 2, ...fast }));
      expect(e.code).toBe('bad-response');
      expect(e.message).toMatch(/^127\.0\.0\.1:\d+ sent a malformed HTTP answer for f\.bin \(.*Content-Length.*\)\.$/);
    }
    const url = await serveRaw(() => 'HTTP/1.1 200 OK\r\nContent-Length: 9007199254740993\r\nConnection: close\r\n\r\n0123456789');
    const e = await caught(fetchWithProgress(`${url}/f.bin`, fast));
    expect(e.message).toMatch(/beyond 2\^53 bytes/);
  });

  it('a gzip bomb (Content-Encoding: gzip, 128 MiB of zeros in 130 kB) stops at the cap while streaming', async () => {
    const member = gzipSync(Buffer.alloc(16 * 2 ** 20));
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Length': String(member.length * 8) });
      for (let i = 0; i < 8; i++) res.write(member);
      res.end();
    });
    const cache = new MemoryFileCache();
    let maxLoaded = 0;
    const e = await caught(fetchWithProgress(`${srv.origin}/v.safetensors`, { cache, maxBytes: 4 * 2 ** 20, onProgress: (p) => (maxLoaded = Math.max(maxLoaded, p.loaded)), ...fast }));
    expect(e.code).toBe('too-large');
    expect(e.message).toBe('v.safetensors is larger than the 4 MiB one download may hold; it was not downloaded.');
    expect(maxLoaded).toBeLessThanOrEqual(4 * 2 ** 20);
    expect(cache.size).toBe(0);
  });

  it('an endless chunked body stops at the cap, and the connection is closed', async () => {
    let closed = false;
    const srv = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const chunk = Buffer.alloc(65536, 1);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => (closed = true));
      pump();
    });
    const e = await caught(fetchWithProgress(`${srv.origin}/endless.npy`, { maxBytes: 3 * 2 ** 20, ...fast }));
    expect(e.code).toBe('too-large');
    expect(e.message).toMatch(/^endless\.npy is larger than the 3 MiB one download may hold/);
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(true);
  });

  it('a set whose listing adds up past the set cap, or holds a file past the file cap, is refused before any download', async () => {
    const srv = await serve((req, res) => {
      if (req.url!.startsWith('/api/')) {
        return res.end(JSON.stringify([
          { type: 'file', path: 'set/a.pt', size: 600 * 2 ** 20 },
          { type: 'file', path: 'set/b.pt', size: 600 * 2 ** 20 },
        ]));
      }
      res.end('x');
    });
    const e = await caught(loadHubSet({ hub: srv.origin, repo: 'o/n', path: 'set', maxTotalBytes: 2 ** 30, ...fast }));
    expect(e.code).toBe('too-large');
    expect(e.message).toBe('These 2 files hold 1258 MB, more than the 1 GiB one set may download; nothing was downloaded.');
    const e2 = await caught(loadHubSet({ hub: srv.origin, repo: 'o/n', path: 'set', maxFileBytes: 512 * 2 ** 20, ...fast }));
    expect(e2.message).toBe('a.pt in o/n/set is 629 MB, larger than the 512 MiB one download may hold; nothing was downloaded.');
    expect(srv.hits()).toBe(2); // the two listings, no file
  });

  it('a set of unknown sizes stops once its bytes pass the set cap', async () => {
    const b = Buffer.alloc(300_000, 5);
    const e = await caught(
      downloadFiles(
        Array.from({ length: 6 }, (_, i) => ({ url: `http://h.invalid/f${i}.bin`, path: `f${i}.bin` })),
        { fetch: (async () => new Response(b)) as unknown as typeof fetch, maxTotalBytes: 1_000_000, concurrency: 1, ...fast },
      ),
    );
    expect(e.code).toBe('too-large');
    expect(e.message).toBe('The set grew past the 1000 kB one set may download (at f3.bin); the download was stopped.');
  });
});

describe('folder walks are bounded', () => {
  /** A tree API that ignores ?recursive, answering per folder with `entries(dir)`. */
  async function treeServer(entries: (dir: string, url: URL) => unknown, extra?: (url: URL, res: ServerResponse) => boolean) {
    return serve((req, res) => {
      const u = new URL(req.url!, 'http://x');
      if (extra?.(u, res)) return;
      const dir = decodeURIComponent(u.pathname.replace(/^\/api\/models\/o\/n\/tree\/main\/?/, ''));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(entries(dir, u)));
    });
  }

  it('a folder that lists itself (and its parent) is walked once', async () => {
    const srv = await treeServer((dir) => [
      { type: 'directory', path: dir },
      { type: 'directory', path: '' },
      { type: 'directory', path: 'set/sub' },
      { type: 'file', path: `${dir}/f.pt`, size: 10 },
    ]);
    const list = await listHubFolder({ hub: srv.origin, repo: 'o/n', path: 'set', ...fast });
    expect(list.map((f) => f.path)).toEqual(['set/f.pt', 'set/sub/f.pt']);
    expect(srv.hits()).toBe(2);
  });

  it('folders that nest without end stop at the depth bound with a sentence', async () => {
    const srv = await treeServer((dir) => [{ type: 'directory', path: `${dir}/x` }]);
    const e = await caught(listHubFolder({ hub: srv.origin, repo: 'o/n', path: 'set', maxDepth: 6, ...fast }));
    expect(e.code).toBe('bad-listing');
    expect(e.message).toBe('The listing of o/n/set goes more than 6 folders deep; a folder may be listing itself.');
    expect(srv.hits()).toBe(7);
  });

  it('a page linking back to itself, too many entries, or too much listing text: each a sentence', async () => {
    const self = await serve((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', Link: `<${req.url}>; rel="next"` });
      res.end(JSON.stringify([{ type: 'file', path: 'set/a.pt', size: 1 }]));
    });
    const e1 = await caught(listHubFolder({ hub: self.origin, repo: 'o/n', path: 'set', ...fast }));
    expect(e1.message).toBe('The listing of o/n/set repeats itself (a page links back to an earlier one).');
    let page = 0;
    const many = await serve((_q, res) => {
      page++;
      res.writeHead(200, { 'Content-Type': 'application/json', Link: `</api/models/o/n/tree/main/set?page=${page}>; rel="next"` });
      res.end(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ type: 'file', path: `set/p${page}-${i}.pt`, size: 1 }))));
    });
    const e2 = await caught(listHubFolder({ hub: many.origin, repo: 'o/n', path: 'set', maxEntries: 120, ...fast }));
    expect(e2.message).toBe('The listing of o/n/set has more than 120 entries, more than this tool walks.');
    const e3 = await caught(listHubFolder({ hub: many.origin, repo: 'o/n', path: 'set', maxListingBytes: 5000, ...fast }));
    expect(e3.code).toBe('bad-listing');
    expect(e3.message).toBe('The listing of o/n/set is larger than the 5 kB of listing this tool reads.');
  });

  it('a listing answered with a web page is a bad listing, and a stalled one times out', async () => {
    const html = await serve((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(HTML);
    });
    const e = await caught(listHubFolder({ hub: html.origin, repo: 'o/n', path: 'set', ...fast }));
    expect(e.code).toBe('bad-listing');
    expect(e.message).toMatch(/did not answer the listing of o\/n\/set with JSON\.$/);
    const stalled = await serve(() => {});
    const e2 = await caught(listHubFolder({ hub: stalled.origin, repo: 'o/n', path: 'set', idleTimeoutMs: 100, retries: 0 }));
    expect(e2.code).toBe('timeout');
  });
});
