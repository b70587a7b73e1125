/**
 * Hostile files whose danger is memory, measured in a child process (see testing/memory-probe.ts):
 * each is refused with one typed sentence, and the child's peak resident set grows by no more than
 * the documented budget, whatever the file asks for.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runMemoryProbe } from '../testing/child-memory';
import { PICKLE_OP } from './pickle';
import { crc32, writeZip } from './zip';

const enc = new TextEncoder();
const str = (t: string) => [...enc.encode(t)];
const binunicode = (t: string) => {
  const b = enc.encode(t);
  return [PICKLE_OP.BINUNICODE, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b];
};
const int2 = (v: number) => [PICKLE_OP.BININT2, v & 255, (v >> 8) & 255];

/** A .pt (a few kB) holding `count` stride-0 views of shape (rows, cols) of one 12-float storage. */
function stride0Pt(count: number, rows: number, cols: number): Uint8Array {
  const view = [
    PICKLE_OP.GLOBAL, ...str('torch._utils\n_rebuild_tensor_v2\n'),
    PICKLE_OP.MARK,
    PICKLE_OP.MARK, ...binunicode('storage'), PICKLE_OP.GLOBAL, ...str('torch\nFloatStorage\n'), ...binunicode('0'), ...binunicode('cpu'),
    PICKLE_OP.BININT1, 12, PICKLE_OP.TUPLE, PICKLE_OP.BINPERSID,
    PICKLE_OP.BININT1, 0,
    PICKLE_OP.MARK, ...int2(rows), ...int2(cols), PICKLE_OP.TUPLE,
    PICKLE_OP.MARK, PICKLE_OP.BININT1, 0, PICKLE_OP.BININT1, 0, PICKLE_OP.TUPLE,
    PICKLE_OP.NEWFALSE,
    PICKLE_OP.GLOBAL, ...str('collections\nOrderedDict\n'), PICKLE_OP.EMPTY_TUPLE, PICKLE_OP.REDUCE,
    PICKLE_OP.TUPLE, PICKLE_OP.REDUCE,
  ];
  const pkl = [PICKLE_OP.PROTO, 2, PICKLE_OP.MARK, ...Array.from({ length: count }, () => view).flat(), PICKLE_OP.LIST, PICKLE_OP.STOP];
  return writeZip([
    { name: 'archive/data.pkl', data: new Uint8Array(pkl) },
    { name: 'archive/data/0', data: new Uint8Array(48) },
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}

/**
 * An .npz of `count` entries, each `entryBytes` of zeros deflated (native zlib, so building it is
 * quick): either `count` separate local entries, or one local entry that every central-directory
 * record points at (`shared`: entries sharing one compressed block).
 */
function zeroNpz(count: number, entryBytes: number, shared: boolean): Uint8Array {
  const data = deflateRawSync(new Uint8Array(entryBytes), { level: 9 });
  const crc = crc32(new Uint8Array(entryBytes));
  const name = (i: number) => enc.encode(`a${String(i).padStart(4, '0')}.npy`);
  const local = (i: number) => {
    const n = name(i);
    const h = new Uint8Array(30 + n.length);
    const v = new DataView(h.buffer);
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(8, 8, true); // deflate
    v.setUint32(14, crc, true);
    v.setUint32(18, data.length, true);
    v.setUint32(22, entryBytes, true);
    v.setUint16(26, n.length, true);
    h.set(n, 30);
    return h;
  };
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (let i = 0; i < (shared ? 1 : count); i++) {
    const h = local(i);
    offsets.push(at);
    parts.push(h, data);
    at += h.length + data.length;
  }
  const cdStart = at;
  for (let i = 0; i < count; i++) {
    const n = name(i);
    const c = new Uint8Array(46 + n.length);
    const v = new DataView(c.buffer);
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, 20, true);
    v.setUint16(10, 8, true);
    v.setUint32(16, crc, true);
    v.setUint32(20, data.length, true);
    v.setUint32(24, entryBytes, true);
    v.setUint16(28, n.length, true);
    v.setUint32(42, shared ? 0 : offsets[i], true);
    c.set(n, 46);
    parts.push(c);
    at += c.length;
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, at - cdStart, true);
  ev.setUint32(16, cdStart, true);
  parts.push(eocd);
  const out = new Uint8Array(at + 22);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

let dir: string;
const file = (name: string, bytes: Uint8Array) => {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'persona-space-memory-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Each case is its own child process: run them side by side.
describe.concurrent('memory bounds of hostile files (child process)', () => {
  it('a tiny .pt with 200 stride-0 views of 64 MiB each (12.5 GiB asked) stops at the whole-file copy budget', async ({ expect }) => {
    const pt = stride0Pt(200, 4096, 4096);
    expect(pt.length).toBeLessThan(64 * 1024);
    // The budget is 512 MiB by default (pt.ts); the probe sets 64 MiB so the copying stays quick.
    const r = await runMemoryProbe('pt-stride0', [file('views.pt', pt), String(64 * 2 ** 20)]);
    expect(r.ok).toBe(false);
    expect(r.error).toMatchObject({ name: 'FormatError', code: 'tensor-too-large' });
    expect(r.error!.message).toMatch(/^The file's tensor views would expand to more than 64 MiB of copies, over the limit for one file\.$/);
    expect(r.grewMiB).toBeLessThan(64 + 48);
  }, 30_000);

  it('with the default budget, a view larger than what is left is refused before it is allocated', async ({ expect }) => {
    // 40 views of (16384, 16384) float32 = 1 GiB each: none fits the 512 MiB budget, nothing is copied.
    const r = await runMemoryProbe('pt-stride0-detect', [file('huge-views.pt', stride0Pt(40, 16384, 16384))]);
    expect(r.error).toMatchObject({ name: 'FormatError', code: 'tensor-too-large' });
    expect(r.error!.message).toMatch(/^"views\.pt": The file's tensor views would expand to more than 512 MiB of copies, over the limit for one file\.$/);
    expect(r.grewMiB).toBeLessThan(48);
  }, 30_000);

  it('an .npz of 12 entries of 8 MiB of zeros each (under the per-entry check, ~100 kB in all) is refused before inflating', async ({ expect }) => {
    const npz = zeroNpz(12, 8 * 2 ** 20, false);
    expect(npz.length).toBeLessThan(200_000);
    const r = await runMemoryProbe('npz-bomb', [file('many.npz', npz)]);
    expect(r.error).toMatchObject({ name: 'FormatError' });
    expect(r.error!.message).toMatch(/a likely zip bomb/);
    expect(r.grewMiB).toBeLessThan(48);
  }, 30_000);

  it('an .npz whose 200 entries share one compressed 16 MiB block (3.1 GiB declared, under the 4 GiB cap) is refused before inflating', async ({ expect }) => {
    const npz = zeroNpz(200, 16 * 2 ** 20, true);
    expect(npz.length).toBeLessThan(200_000);
    const r = await runMemoryProbe('npz-bomb', [file('shared.npz', npz)]);
    expect(r.error).toMatchObject({ name: 'FormatError' });
    expect(r.error).toMatchObject({ code: 'zip-bomb' });
    expect(r.error!.message).toMatch(/^The ZIP archive of \d+ bytes declares 3355443200 bytes of content \(\d+ times its size\), a likely zip bomb\.$/);
    expect(r.grewMiB).toBeLessThan(48);
  }, 30_000);
});
