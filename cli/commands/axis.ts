/**
 * `persona-space axis <source>`: the Assistant Axis (default - mean of the roles) at every layer,
 * its norm and cos(axis, PC1) per layer; with --out, the (n_layers, d) axis as .safetensors, .npy
 * or .pt (float32; a single-layer set gives a (d,) axis).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { writeNpy } from '../../src/core/formats/npy';
import { writePt } from '../../src/core/formats/pt';
import { writeSafetensors } from '../../src/core/formats/safetensors';
import { cosAxisPcPerLayer, requireDefault } from '../../src/core/persona/analysis';
import { tensorFromF32 } from '../../src/core/tensor';
import { describeSet, fmt, loadSource, parseCommand, SOURCE_FLAGS, wantsJson } from './inspect';

const HELP = `usage: persona-space axis <source> [--default a,b] [--names FILE] [--out FILE] [--json]
The Assistant Axis at every layer: axis[L] = default[L] - mean over roles of role[L] (unnormalised).
Prints |axis| and cos(axis, PC1) per layer (PC1 oriented so the cosine is >= 0).
--out FILE   write the axis, (n_layers, d) float32, as .safetensors (tensor "axis"), .npy or .pt`;

export const AXIS_WRITERS = ['.safetensors', '.npy', '.pt'];

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...SOURCE_FLAGS, 'out'], 'axis');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`axis takes one source, got ${args.positionals.length}.`);
  const out = flagString(args, 'out');
  const ext = out ? path.extname(out).toLowerCase() : '';
  if (out && !AXIS_WRITERS.includes(ext)) throw new UsageError(`--out must end in ${AXIS_WRITERS.join(', ')} (got "${path.basename(out)}").`);
  const set = await loadSource(args.positionals[0], args);
  requireDefault(set);
  // One pass over the layers: each is decoded once for its PCA, which also yields the axis.
  const rows = cosAxisPcPerLayer(set, 1, { keepAxis: true });
  const ax = { layers: rows.length, dim: set.dim, axis: new Float32Array(rows.length * set.dim), norms: rows.map((r) => r.axisNorm) };
  rows.forEach((r, l) => ax.axis.set(r.axis!, l * set.dim));
  const cosPc1 = rows.map((r) => (r.cosAxisPc ? r.cosAxisPc[0] : NaN));
  if (out) {
    const shape = set.layers === null ? [ax.dim] : [ax.layers, ax.dim];
    const t = tensorFromF32(ax.axis, shape);
    const bytes =
      ext === '.npy'
        ? writeNpy(t)
        : ext === '.pt'
          ? writePt(t)
          : writeSafetensors({ axis: t }, { source: 'persona-space axis', default: set.defaultLabel ?? '', hook: 'resid_post', layers: String(set.layers ?? 1) });
    await writeFile(out, bytes);
  }
  if (wantsJson(args)) {
    io.out(JSON.stringify({ layers: ax.layers, norm: ax.norms, cos_pc1: cosPc1, default: set.defaultLabel, out: out ?? null }));
    return 0;
  }
  const lines = [`${args.positionals[0]}: ${describeSet(set)}`, `Assistant Axis = ${set.defaultLabel} - mean of the roles (resid_post)`, 'layer  |axis|      cos(axis, PC1)'];
  for (let l = 0; l < ax.layers; l++) lines.push(`${String(set.layers === null ? '-' : l).padStart(5)}  ${fmt(ax.norms[l]).padStart(10)}  ${fmt(cosPc1[l])}`);
  if (out) lines.push(`wrote ${out} (${set.layers === null ? `${ax.dim}` : `${ax.layers} x ${ax.dim}`}, float32)`);
  io.out(lines.join('\n'));
  return 0;
}
