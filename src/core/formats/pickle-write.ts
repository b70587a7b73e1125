/** Writing pickles (protocol 2, as torch.save does by default), for writePt and tests. */
import { FormatError } from '../errors';
import { isRawTensor, type RawTensor } from '../tensor';
import { latin1String, OP } from './pickle-ops';
import { PyGlobal, type PyObject, type PyValue } from './py';

export interface PickleWriteHooks {
  /** Write a tensor; return false to fall through to the default (an error). */
  tensor?: (t: RawTensor, w: PickleWriter) => void;
}

export class PickleWriter {
  private buf = new Uint8Array(1024);
  private len = 0;
  private readonly enc = new TextEncoder();

  byte(b: number): void {
    if (this.len + 1 > this.buf.length) this.grow(1);
    this.buf[this.len++] = b;
  }
  bytes(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  private grow(k: number): void {
    const nb = new Uint8Array(Math.max(this.buf.length * 2, this.len + k));
    nb.set(this.buf.subarray(0, this.len));
    this.buf = nb;
  }
  u32(v: number): void {
    this.byte(v & 0xff);
    this.byte((v >>> 8) & 0xff);
    this.byte((v >>> 16) & 0xff);
    this.byte((v >>> 24) & 0xff);
  }
  global(module: string, name: string): void {
    this.byte(OP.GLOBAL);
    this.bytes(this.enc.encode(`${module}\n${name}\n`));
  }
  str(s: string): void {
    const b = this.enc.encode(s);
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.bytes(b);
  }
  int(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 256) {
      this.byte(OP.BININT1);
      this.byte(v);
    } else if (typeof v === 'number' && v >= 0 && v < 65536) {
      this.byte(OP.BININT2);
      this.byte(v & 0xff);
      this.byte(v >> 8);
    } else if (typeof v === 'number' && v >= -(2 ** 31) && v < 2 ** 31) {
      this.byte(OP.BININT);
      this.u32(v >>> 0);
    } else {
      // LONG1: minimal two's-complement little-endian.
      let x = BigInt(v);
      const out: number[] = [];
      for (;;) {
        out.push(Number(x & 0xffn));
        x >>= 8n;
        const sign = out[out.length - 1] & 0x80;
        if ((x === 0n && !sign) || (x === -1n && sign)) break;
      }
      this.byte(OP.LONG1);
      this.byte(out.length);
      for (const b of out) this.byte(b);
    }
  }
  float(v: number): void {
    this.byte(OP.BINFLOAT);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.bytes(b);
  }
  op(code: number): void {
    this.byte(code);
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.op(OP.EMPTY_TUPLE);
    if (items.length <= 3) {
      items.forEach((f) => f());
      this.op([OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length - 1]);
      return;
    }
    this.op(OP.MARK);
    items.forEach((f) => f());
    this.op(OP.TUPLE);
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}


/**
 * Serialise a PyValue (without PyObject records) as a protocol-2 pickle. Integer-valued numbers
 * are written as ints (the Python int/float distinction is not kept in PyValue).
 */
export function pickleDump(value: PyValue, hooks: PickleWriteHooks = {}): Uint8Array {
  const w = new PickleWriter();
  w.op(OP.PROTO);
  w.byte(2);
  const stack = new Set<object>();
  const write = (v: PyValue): void => {
    if (v === null) return w.op(OP.NONE);
    if (v === true) return w.op(OP.NEWTRUE);
    if (v === false) return w.op(OP.NEWFALSE);
    if (typeof v === 'number') return Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? w.int(v) : w.float(v);
    if (typeof v === 'bigint') return w.int(v);
    if (typeof v === 'string') return w.str(v);
    if (stack.has(v)) throw new FormatError('pickle-cycle', 'Cannot save a value that contains itself.');
    stack.add(v);
    try {
      if (v instanceof Uint8Array) {
        // Protocol 2 has no bytes type: torch/pickle spell bytes as _codecs.encode(latin1 text).
        w.global('_codecs', 'encode');
        w.tuple([() => w.str(latin1String(v)), () => w.str('latin1')]);
        return w.op(OP.REDUCE);
      }
      if (isRawTensor(v)) {
        if (!hooks.tensor) throw new FormatError('pickle-tensor', 'Tensors can only be pickled inside a .pt archive.');
        return hooks.tensor(v, w);
      }
      if (Array.isArray(v)) {
        w.op(OP.EMPTY_LIST);
        if (v.length) {
          w.op(OP.MARK);
          v.forEach(write);
          w.op(OP.APPENDS);
        }
        return;
      }
      if (v instanceof Map) {
        w.op(OP.EMPTY_DICT);
        if (v.size) {
          w.op(OP.MARK);
          for (const [k, x] of v) {
            write(k as PyValue);
            write(x);
          }
          w.op(OP.SETITEMS);
        }
        return;
      }
      if (v instanceof Set) {
        w.global('builtins', 'set');
        w.op(OP.EMPTY_LIST);
        if (v.size) {
          w.op(OP.MARK);
          v.forEach(write);
          w.op(OP.APPENDS);
        }
        w.op(OP.TUPLE1);
        return w.op(OP.REDUCE);
      }
      if (v instanceof PyGlobal) return w.global(v.module, v.name);
      throw new FormatError('pickle-object', `Cannot save an object of class ${(v as PyObject).__class__ ?? 'unknown'}.`);
    } finally {
      stack.delete(v);
    }
  };
  write(value);
  w.op(OP.STOP);
  return w.result();
}
