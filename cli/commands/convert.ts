/**
 * `persona-space convert <source> --out FILE`: write a persona set in another format, chosen by
 * the output name's extension:
 *   .safetensors  one tensor per member ((L, d) or (d,)), plus "default"; bf16 stays bf16
 *   .pt           the same dict name -> tensor as a torch.save archive
 *   .npy          one (N, L, d) / (N, d) float32 array, names in <stem>.names.json beside it
 *   .tsv          Embedding Projector vectors (N, d) at one layer, names in <stem>.metadata.tsv beside it
 * The default vector, when the set has one, is written as a member called "default" (which every
 * reader takes as the default again).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { flagInt, flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { DataError } from '../../src/core/errors';
import { writeNpy } from '../../src/core/formats/npy';
import { writePt } from '../../src/core/formats/pt';
import { writeSafetensors } from '../../src/core/formats/safetensors';
import { writeMetadataTsv, writeVectorsTsv } from '../../src/core/formats/tsv';
import { f32ToBf16Array, numel, tensorFromF32, type RawTensor } from '../../src/core/tensor';
import type { PersonaSet } from '../../src/core/persona/types';
import { loadSource, SOURCE_FLAGS } from '../fs-source';
import { chooseLayer, describeSet, parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space convert <source> --out FILE [--layer L] [--default a,b] [--names FILE] [--json]
--out FILE   .safetensors | .pt (dict name -> tensor), .npy (+ <stem>.names.json), .tsv (+ <stem>.metadata.tsv)
--layer L    write only this layer ((N, d)); .tsv always writes one layer (default: n_layers // 2)
The default vector is written as a member called "default".`;

const EXTS = ['.safetensors', '.pt', '.npy', '.tsv'];

/** Every member (and the default, last) at the chosen layers, as one (M, L, d) or (M, d) buffer. */
function gather(set: PersonaSet, layer: number | null | 'all', bf16: boolean): { names: string[]; data: Float32Array | Uint16Array; layers: number | null } {
  const names = [...set.names];
  const hasDefault = set.defaultLabel !== null;
  if (hasDefault) {
    if (names.includes('default')) throw new DataError('name-clash', 'The set has both a default vector and a member called "default"; rename that member first.');
    names.push('default');
  }
  const d = set.dim;
  const layerList = layer === 'all' ? (set.layers === null ? [0] : Array.from({ length: set.layers }, (_, l) => l)) : [layer ?? 0];
  const L = layerList.length;
  const M = names.length;
  const out = bf16 ? new Uint16Array(M * L * d) : new Float32Array(M * L * d);
  const put = (row: number, li: number, v: Float32Array) => {
    const o = (row * L + li) * d;
    if (out instanceof Float32Array) out.set(v, o);
    else f32ToBf16Array(v, out.subarray(o, o + d));
  };
  layerList.forEach((l, li) => {
    const rows = set.layer(l);
    for (let i = 0; i < set.names.length; i++) put(i, li, rows.subarray(i * d, i * d + d));
    if (hasDefault) put(M - 1, li, set.defaultAt(l)!);
  });
  return { names, data: out, layers: layer === 'all' ? set.layers : null };
}

function member(data: Float32Array | Uint16Array, i: number, shape: number[]): RawTensor {
  const per = numel(shape);
  const bytes = new Uint8Array(data.buffer, data.byteOffset + i * per * data.BYTES_PER_ELEMENT, per * data.BYTES_PER_ELEMENT);
  return { dtype: data instanceof Float32Array ? 'float32' : 'bfloat16', shape, data: bytes };
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...SOURCE_FLAGS, 'out', 'layer'], 'convert');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`convert takes one source, got ${args.positionals.length}.`);
  const out = flagString(args, 'out');
  if (!out) throw new UsageError('Give --out FILE (.safetensors, .pt, .npy or .tsv).');
  const ext = path.extname(out).toLowerCase();
  if (!EXTS.includes(ext)) throw new UsageError(`--out must end in ${EXTS.join(', ')} (got "${path.basename(out)}").`);
  const set = await loadSource(args.positionals[0], args);
  const layerFlag = flagInt(args, 'layer');
  const layer = ext === '.tsv' || layerFlag !== undefined ? chooseLayer(set, layerFlag) : 'all';
  const stem = out.slice(0, out.length - ext.length);
  const written: string[] = [out];
  const d = set.dim;

  if (ext === '.safetensors' || ext === '.pt') {
    const g = gather(set, layer, set.dtype === 'bfloat16');
    const shape = g.layers === null ? [d] : [g.layers, d];
    // A Map: names are data (`__proto__`, `constructor` are member names like any other).
    const tensors = new Map<string, RawTensor>();
    g.names.forEach((name, i) => tensors.set(name, member(g.data, i, shape)));
    if (ext === '.safetensors') {
      if (tensors.has('__metadata__')) throw new DataError('name-clash', 'A member called "__metadata__" cannot be stored in safetensors.');
      const meta = { source: 'persona-space convert', format: set.format, default: set.defaultLabel ?? '', kinds: JSON.stringify(set.kinds), layer: String(layer) };
      await writeFile(out, writeSafetensors(tensors, meta));
    } else {
      await writeFile(out, writePt(tensors));
    }
  } else if (ext === '.npy') {
    const g = gather(set, layer, false);
    const shape = g.layers === null ? [g.names.length, d] : [g.names.length, g.layers, d];
    await writeFile(out, writeNpy(tensorFromF32(g.data as Float32Array, shape)));
    const namesFile = `${stem}.names.json`;
    await writeFile(namesFile, JSON.stringify(g.names) + '\n');
    written.push(namesFile);
  } else {
    const g = gather(set, layer, false);
    await writeFile(out, writeVectorsTsv(tensorFromF32(g.data as Float32Array, [g.names.length, d])));
    const metaFile = `${stem}.metadata.tsv`;
    await writeFile(metaFile, writeMetadataTsv(g.names));
    written.push(metaFile);
  }
  if (wantsJson(args)) {
    io.out(JSON.stringify({ out: written, count: set.names.length, default: set.defaultLabel, layer: layer === 'all' ? null : layer, layers: layer === 'all' ? set.layers : null, dim: d }));
    return 0;
  }
  io.out(`${args.positionals[0]}: ${describeSet(set)}\nwrote ${written.join(' and ')}${layer === 'all' ? '' : layer === null ? '' : ` (layer ${layer})`}`);
  return 0;
}
