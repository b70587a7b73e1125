/**
 * Downloads whose danger is memory, measured in a child process (see testing/memory-probe.ts): a
 * gzip bomb that fetch decodes (1 GiB of zeros in about 1 MB) and an endless body stop at the
 * per-file cap while streaming, and the child's peak resident set grows by little more than the cap.
 */
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runMemoryProbe } from '../testing/child-memory';

let server: Server;
let origin = '';
const sockets = new Set<Socket>();
const CAP = 16 * 2 ** 20;
/** The buffer at the cap, the halves it grew through, and the runtime's own streaming buffers. */
const BOUND_MIB = 2 * 16 + 48;

beforeAll(async () => {
  const member = gzipSync(Buffer.alloc(16 * 2 ** 20)); // ~16 kB; 64 of them decode to 1 GiB
  server = createServer((req, res) => {
    if (req.url === '/bomb.safetensors') {
      res.writeHead(200, { 'Content-Encoding': 'gzip', 'Content-Type': 'application/octet-stream' });
      let i = 0;
      const pump = () => {
        while (i < 64 && !res.destroyed) {
          i++;
          if (!res.write(member)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    // endless: chunked zeros until the client goes away
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    const chunk = Buffer.alloc(256 * 1024);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    pump();
  });
  server.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  for (const c of sockets) c.destroy();
  await new Promise((r) => server.close(r));
});

describe.concurrent('memory bounds of hostile downloads (child process)', () => {
  it('a gzip bomb (1 GiB decoded from ~1 MB) stops at the 16 MiB cap; the child grows by less than 80 MiB (1 GiB unbounded)', async ({ expect }) => {
    const r = await runMemoryProbe('fetch', [`${origin}/bomb.safetensors`, String(CAP)]);
    expect(r.error).toMatchObject({ name: 'HubError', code: 'too-large' });
    expect(r.error!.message).toBe('bomb.safetensors is larger than the 16 MiB one download may hold; it was not downloaded.');
    expect(r.grewMiB).toBeLessThan(BOUND_MIB);
  }, 30_000);

  it('an endless body stops at the 16 MiB cap; the child grows by less than 80 MiB', async ({ expect }) => {
    const r = await runMemoryProbe('fetch', [`${origin}/endless.pt`, String(CAP)]);
    expect(r.error).toMatchObject({ name: 'HubError', code: 'too-large' });
    expect(r.error!.message).toBe('endless.pt is larger than the 16 MiB one download may hold; it was not downloaded.');
    expect(r.grewMiB).toBeLessThan(BOUND_MIB);
  }, 30_000);
});
