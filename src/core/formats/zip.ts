/**
 * A small, defensive ZIP reader and a stored-only writer.
 *
 * Why our own reader: PyTorch archives set the data-descriptor flag and leave the sizes in the
 * local headers at zero, so only the central directory can be trusted; and stored entries (the
 * norm in `.pt` files) should come back as views into the caller's bytes, not copies.
 * Every limit a hostile archive could abuse (entry count, declared and actual sizes, compression
 * ratio, offsets outside the file) is checked before any allocation.
 */
import { Inflate } from 'fflate';
import { FormatError, PersonaSpaceError } from '../errors';

export interface ZipLimits {
  /** Most entries an archive may list (default 200 000). */
  maxEntries?: number;
  /** Most bytes all entries may expand to, declared and actual (default 4 GiB). */
  maxTotalBytes?: number;
  /** Largest expansion ratio accepted for a compressed entry larger than 16 MiB (default 200). */
  maxRatio?: number;
  /** Check CRC-32 of entries when they are read (default true). */
  verifyCrc?: boolean;
}

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the entry's data in the archive. */
  dataOffset: number;
}

export interface ZipArchive {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** The entry's bytes: a view into the archive for stored entries, a new array for deflated ones. `verifyCrc` overrides the archive's setting. */
  read(name: string, verifyCrc?: boolean): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOC = 0x07064b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6);
}

function truncated(what: string, details?: Record<string, unknown>): FormatError {
  return new FormatError('zip-truncated', `The ZIP archive is truncated or damaged (${what}).`, details);
}

function u64(dv: DataView, off: number): number {
  const lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  if (hi >= 0x200000) throw new FormatError('zip-too-large', 'The ZIP archive declares a size beyond 2^53 bytes.');
  return hi * 0x100000000 + lo;
}

export function openZip(bytes: Uint8Array, limits: ZipLimits = {}): ZipArchive {
  const maxEntries = limits.maxEntries ?? 200_000;
  const maxTotal = limits.maxTotalBytes ?? 4 * 2 ** 30;
  const maxRatio = limits.maxRatio ?? 200;
  const verifyCrc = limits.verifyCrc ?? true;
  const len = bytes.length;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  // End of central directory: the last signature within the final 64 kB + 22 bytes.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === SIG_EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    if (isZip(bytes)) throw truncated('no end-of-archive record');
    throw new FormatError('not-zip', 'The file is not a ZIP archive.');
  }
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== SIG_EOCD64_LOC) throw truncated('missing ZIP64 locator');
    const rec = u64(dv, loc + 8);
    if (rec + 56 > len || dv.getUint32(rec, true) !== SIG_EOCD64) throw truncated('bad ZIP64 record');
    count = u64(dv, rec + 32);
    cdSize = u64(dv, rec + 40);
    cdOffset = u64(dv, rec + 48);
  }
  if (count > maxEntries) {
    throw new FormatError('zip-too-many-entries', `The ZIP archive lists ${count} entries, more than the limit of ${maxEntries}.`, { count, maxEntries });
  }
  if (cdOffset + cdSize > len) throw truncated('central directory beyond the end of the file', { cdOffset, cdSize, len });

  const entries = new Map<string, ZipEntry>();
  let totalDeclared = 0;
  let p = cdOffset;
  const decoder = new TextDecoder('utf-8', { fatal: false });
  for (let k = 0; k < count; k++) {
    if (p + 46 > len || dv.getUint32(p, true) !== SIG_CENTRAL) throw truncated(`central directory entry ${k}`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > len) throw truncated(`central directory entry ${k}`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field: the 64-bit values appear only for fields saturated at 0xffffffff, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const sz = dv.getUint16(e + 2, true);
      if (e + 4 + sz > eEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + sz) throw truncated('short ZIP64 field');
          const v = u64(dv, q);
          q += 8;
          return v;
        };
        if (usize === 0xffffffff) usize = take();
        if (csize === 0xffffffff) csize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + sz;
    }
    p = end;
    if (flags & 1) throw new FormatError('zip-encrypted', `The ZIP entry "${name}" is encrypted, which is not supported.`);
    if (method !== 0 && method !== 8) {
      throw new FormatError('zip-method', `The ZIP entry "${name}" uses compression method ${method}; only stored and deflate are supported.`);
    }
    if (method === 0 && csize !== usize) throw new FormatError('zip-size', `The stored ZIP entry "${name}" declares two different sizes.`);
    totalDeclared += usize;
    if (totalDeclared > maxTotal) {
      throw new FormatError('zip-bomb', `The ZIP archive declares more than ${maxTotal} bytes of content, over the limit.`, { totalDeclared, maxTotal });
    }
    if (method === 8 && usize > 16 * 2 ** 20 && usize > csize * maxRatio) {
      throw new FormatError('zip-bomb', `The ZIP entry "${name}" would expand ${Math.round(usize / Math.max(1, csize))} times, a likely zip bomb.`, { usize, csize });
    }
    if (localOffset + 30 > len) throw truncated(`local header of "${name}"`);
    if (dv.getUint32(localOffset, true) !== SIG_LOCAL) throw truncated(`local header of "${name}"`);
    const dataOffset = localOffset + 30 + dv.getUint16(localOffset + 26, true) + dv.getUint16(localOffset + 28, true);
    if (dataOffset + csize > len) throw truncated(`data of "${name}" beyond the end of the file`, { name, dataOffset, csize, len });
    if (entries.has(name)) throw new FormatError('zip-duplicate', `The ZIP archive holds "${name}" twice.`);
    entries.set(name, { name, method, compressedSize: csize, size: usize, crc32: crc, dataOffset });
  }

  // The archive as a whole: many entries of <= 16 MiB each (or entries sharing one compressed
  // block) must not expand past maxRatio times the file either. Checked before anything is inflated.
  if (totalDeclared > 64 * 2 ** 20 && totalDeclared > len * maxRatio) {
    throw new FormatError(
      'zip-bomb',
      `The ZIP archive of ${len} bytes declares ${totalDeclared} bytes of content (${Math.round(totalDeclared / Math.max(1, len))} times its size), a likely zip bomb.`,
      { totalDeclared, len },
    );
  }
  return {
    entries,
    read(name: string, verify = verifyCrc): Uint8Array {
      const en = entries.get(name);
      if (!en) throw new FormatError('zip-missing', `The ZIP archive has no entry "${name}".`);
      const raw = bytes.subarray(en.dataOffset, en.dataOffset + en.compressedSize);
      const out = en.method === 0 ? raw : inflateBounded(raw, en.size, name);
      if (verify && crc32(out) !== en.crc32) {
        throw new FormatError('zip-crc', `The ZIP entry "${name}" is damaged (checksum mismatch).`, { name });
      }
      return out;
    },
  };
}

/** Inflate into exactly `size` bytes, stopping as soon as the stream tries to produce more. */
function inflateBounded(raw: Uint8Array, size: number, name: string): Uint8Array {
  const out = new Uint8Array(size);
  let n = 0;
  let done = false;
  const inf = new Inflate((chunk, final) => {
    if (n + chunk.length > size) throw new FormatError('zip-bomb', `The ZIP entry "${name}" expands beyond its declared size.`);
    out.set(chunk, n);
    n += chunk.length;
    if (final) done = true;
  });
  try {
    // Feed the input in slices so that one push can never expand to more than ~64 MiB before the check above runs.
    const step = 1 << 16;
    for (let i = 0; i < raw.length || i === 0; i += step) {
      inf.push(raw.subarray(i, i + step), i + step >= raw.length);
      if (n > size) break;
    }
  } catch (e) {
    if (e instanceof PersonaSpaceError) throw e;
    throw new FormatError('zip-deflate', `The ZIP entry "${name}" is damaged (bad deflate data).`);
  }
  if (!done || n !== size) throw new FormatError('zip-deflate', `The ZIP entry "${name}" is damaged (expanded to ${n} bytes, ${size} declared).`);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  // Slicing-by-8 tables: eight bytes per step over large stored tensors.
  for (let k = 1; k < 8; k++) for (let i = 0; i < 256; i++) t[k * 256 + i] = (t[(k - 1) * 256 + i] >>> 8) ^ t[t[(k - 1) * 256 + i] & 0xff];
  return t;
})();

export function crc32(data: Uint8Array): number {
  const t = CRC_TABLE;
  let c = -1;
  let i = 0;
  const n = data.length;
  // Byte-wise until 4-byte aligned, then two 32-bit little-endian words per step.
  while (i < n && (data.byteOffset + i) % 4 !== 0) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  const words = (n - i) >>> 3;
  if (words > 0) {
    const u32 = new Uint32Array(data.buffer, data.byteOffset + i, words * 2);
    for (let w = 0; w < u32.length; w += 2) {
      const a = u32[w] ^ c;
      const b = u32[w + 1];
      c =
        t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^ t[1024 + (a >>> 24)] ^
        t[768 + (b & 0xff)] ^ t[512 + ((b >>> 8) & 0xff)] ^ t[256 + ((b >>> 16) & 0xff)] ^ t[b >>> 24];
    }
    i += words * 8;
  }
  for (; i < n; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

/**
 * Write a ZIP of stored entries whose data start on `align`-byte boundaries (as torch.save does,
 * with padding in the local header's extra field), so readers can map tensors without copying.
 */
export function writeZip(files: ZipWriteEntry[], align = 64): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const f of files) {
    const name = enc.encode(f.name);
    const crc = crc32(f.data);
    const headerLen = 30 + name.length;
    const pad = (align - ((offset + headerLen + 4) % align)) % align;
    const extraLen = pad + 4;
    const local = new Uint8Array(headerLen + extraLen);
    const ldv = new DataView(local.buffer);
    ldv.setUint32(0, SIG_LOCAL, true);
    ldv.setUint16(4, 20, true);
    ldv.setUint16(6, 0x0800, true);
    ldv.setUint16(8, 0, true);
    ldv.setUint32(14, crc, true);
    ldv.setUint32(18, f.data.length, true);
    ldv.setUint32(22, f.data.length, true);
    ldv.setUint16(26, name.length, true);
    ldv.setUint16(28, extraLen, true);
    local.set(name, 30);
    ldv.setUint16(30 + name.length, 0x4246, true); // 'FB', torch's padding field id
    ldv.setUint16(32 + name.length, pad, true);
    local.fill(0x5a, 34 + name.length); // 'Z' padding, like torch
    const c = new Uint8Array(46 + name.length);
    const cdv = new DataView(c.buffer);
    cdv.setUint32(0, SIG_CENTRAL, true);
    cdv.setUint16(4, 20, true);
    cdv.setUint16(6, 20, true);
    cdv.setUint16(8, 0x0800, true);
    cdv.setUint32(16, crc, true);
    cdv.setUint32(20, f.data.length, true);
    cdv.setUint32(24, f.data.length, true);
    cdv.setUint16(28, name.length, true);
    cdv.setUint32(42, offset, true);
    c.set(name, 46);
    central.push(c);
    parts.push(local, f.data);
    offset += local.length + f.data.length;
  }
  if (offset > 0xfffffff0) throw new FormatError('zip-too-large', 'Archives over 4 GiB are not written (no ZIP64 support in the writer).');
  const cdOffset = offset;
  let cdSize = 0;
  for (const c of central) cdSize += c.length;
  const eocd = new Uint8Array(22);
  const edv = new DataView(eocd.buffer);
  edv.setUint32(0, SIG_EOCD, true);
  edv.setUint16(8, files.length, true);
  edv.setUint16(10, files.length, true);
  edv.setUint32(12, cdSize, true);
  edv.setUint32(16, cdOffset, true);
  const out = new Uint8Array(offset + cdSize + 22);
  let q = 0;
  for (const part of [...parts, ...central, eocd]) {
    out.set(part, q);
    q += part.length;
  }
  return out;
}
