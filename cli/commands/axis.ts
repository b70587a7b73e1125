/**
 * `persona-space axis <source>`: the Assistant Axis (default - mean of the roles) at every layer,
 * its norm and cos(axis, PC1) per layer; with --out, the (n_layers, d) axis as .safetensors, .npy
 * or .pt (float32; a single-layer set gives a (d,) axis). The per-layer PCA runs on --threads N
 * worker threads (cli/layer-pool.ts), with the same numbers as --threads 1.
 */
import { flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { vectorOutPath, VECTOR_EXTS, writeVectorFile } from '../vector-files';
import { requireDefault } from '../../src/core/persona/analysis';
import { tensorFromF32 } from '../../src/core/tensor';
import { loadSource, SOURCE_FLAGS } from '../fs-source';
import { layerSummaries, THREADS_HELP, threadsFlag } from '../layer-pool';
import { describeSet, fmt, parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space axis <source> [--default a,b] [--names FILE] [--out FILE] [--threads N] [--json]
The Assistant Axis at every layer: axis[L] = default[L] - mean over roles of role[L] (unnormalised).
Prints |axis| and cos(axis, PC1) per layer (PC1 oriented so the cosine is >= 0).
--out FILE       write the axis, (n_layers, d) float32, as .safetensors (tensor "axis"), .npy or .pt
${THREADS_HELP}`;

export const AXIS_WRITERS: readonly string[] = VECTOR_EXTS;

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...SOURCE_FLAGS, 'out', 'threads'], 'axis');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`axis takes one source, got ${args.positionals.length}.`);
  const out = vectorOutPath(flagString(args, 'out'));
  const threads = threadsFlag(args);
  const set = await loadSource(args.positionals[0], args);
  requireDefault(set);
  // One pass over the layers (each a PCA, the heavy part, which also yields the axis), shared out
  // over --threads worker threads.
  const rows = await layerSummaries(set, 1, threads, io, { keepAxis: true });
  const ax = { layers: rows.length, dim: set.dim, axis: new Float32Array(rows.length * set.dim), norms: rows.map((r) => r.axisNorm) };
  rows.forEach((r, l) => ax.axis.set(r.axis!, l * set.dim));
  const cosPc1 = rows.map((r) => (r.cosAxisPc ? r.cosAxisPc[0] : NaN));
  if (out) {
    const shape = set.layers === null ? [ax.dim] : [ax.layers, ax.dim];
    const t = tensorFromF32(ax.axis, shape);
    await writeVectorFile(out, t, { name: 'axis', metadata: { source: 'persona-space axis', default: set.defaultLabel ?? '', hook: 'resid_post', layers: String(set.layers ?? 1) } });
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
