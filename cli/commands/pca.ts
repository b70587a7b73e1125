/**
 * `persona-space pca <source>`: mean-centred PCA of the members at one layer, the default
 * projected afterwards, PCs oriented so that the Assistant Axis projects positively.
 *
 * Layer: `--layer L` (0-based decoder block); without it, the middle layer (n_layers // 2).
 * A single-layer set has no layer index: "layer" is null in the JSON, and --layer may only be 0.
 * `--all-layers`: the explained-variance ratios, |axis| and cos(axis, PC_k) at every layer, the
 * layers shared out over `--threads N` worker threads (workers/pca-pool.ts; default min(2, cores)),
 * the same numbers as --threads 1, which walks them on the main thread.
 */
import { flagInt, UsageError } from '../args';
import type { CliIO } from '../main';
import { fitMembers, pcaAtLayer } from '../../src/core/persona/analysis';
import type { PersonaSet } from '../../src/core/persona/types';
import { loadSource, SOURCE_FLAGS } from '../fs-source';
import { layerSummaries, threadsFlag } from '../layer-pool';
import { chooseLayer, describeSet, fmt, nums, parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space pca <source> [--layer L | --all-layers [--threads N]] [--components K] [--default a,b] [--names FILE] [--json]
Mean-centred PCA of the members (roles only, when the set also holds traits) at one layer.
The default vector is not fit: it is centred with the members' mean and projected afterwards.
Each PC is oriented so that the Assistant Axis (default - mean) projects non-negatively on it.
--layer L        0-based decoder block (default: n_layers // 2; single-layer sets: omit or 0)
--components K   number of components (default 3)
--all-layers     every layer: explained variance ratio, |axis| and cos(axis, PC) per layer
--threads N      worker threads for --all-layers (default min(2, CPU cores); 1: this thread only)`;

export { chooseLayer };

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...SOURCE_FLAGS, 'layer', 'components', 'all-layers', 'threads'], 'pca', ['json', 'help', 'all-layers']);
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`pca takes one source, got ${args.positionals.length}.`);
  const k = flagInt(args, 'components') ?? 3;
  if (k < 1) throw new UsageError('--components must be at least 1.');
  const all = args.flags.get('all-layers') === true;
  if (all && args.flags.has('layer')) throw new UsageError('--all-layers and --layer do not go together: --all-layers reads every layer.');
  if (!all && args.flags.has('threads')) throw new UsageError('--threads applies to --all-layers only.');
  const threads = threadsFlag(args);
  const set = await loadSource(args.positionals[0], args);
  if (all) return allLayers(set, args.positionals[0], k, threads, wantsJson(args), io);
  const layer = chooseLayer(set, flagInt(args, 'layer'));
  const p = pcaAtLayer(set, layer, { components: k });

  // Null prototype: a member called __proto__ (or constructor) is a key like any other.
  const coords: Record<string, number[]> = Object.create(null);
  set.names.forEach((name, i) => (coords[name] = Array.from(p.coords.subarray(i * p.k, i * p.k + p.k))));
  if (wantsJson(args)) {
    io.out(
      JSON.stringify({
        layer: p.layer,
        n: p.n,
        dim: p.dim,
        explained_variance_ratio: nums(p.explainedVarianceRatio),
        explained_variance: nums(p.explainedVariance),
        axis_norm: p.axis ? p.axisNorm : null,
        axis_source: p.axisSource,
        cos_axis_pc: nums(p.cosAxisPc),
        default: set.defaultLabel,
        default_coords: nums(p.defaultCoords),
        fit: p.n === set.names.length ? 'all' : p.fit.map((i) => set.names[i]),
        coords,
      }),
    );
    return 0;
  }
  const pcs = (a: ArrayLike<number>, digits = 4) => Array.from(a, (v, c) => `PC${c + 1} ${fmt(v, digits)}`).join('  ');
  const lines = [
    `${args.positionals[0]}: ${describeSet(set)}`,
    `PCA of ${p.n} members${p.n < set.names.length ? ' (roles)' : ''}${p.layer === null ? '' : ` at layer ${p.layer}`}`,
    `explained variance ratio: ${pcs(p.explainedVarianceRatio)}`,
  ];
  if (p.cosAxisPc) {
    lines.push(`axis (${p.axisSource === 'default' ? `default "${set.defaultLabel}" - mean` : 'stored'}): |axis| ${fmt(p.axisNorm)}; cos(axis, PC): ${pcs(p.cosAxisPc)}`);
  } else {
    lines.push('no default vector: PC signs follow the largest |coordinate| (give --default a,b to orient them by the Assistant Axis)');
  }
  if (p.defaultCoords) lines.push(`default at: ${pcs(p.defaultCoords, 3)}`);
  const order = set.names.map((name, i) => ({ name, v: p.coords[i * p.k] })).sort((a, b) => b.v - a.v);
  const ends = Math.min(8, Math.floor(order.length / 2));
  const show = (xs: typeof order) => xs.map((x) => `${x.name} ${fmt(x.v, 3)}`).join(', ');
  lines.push(`PC1 high end: ${show(order.slice(0, ends))}`);
  lines.push(`PC1 low end:  ${show(order.slice(order.length - ends).reverse())}`);
  lines.push('(--json prints every coordinate)');
  io.out(lines.join('\n'));
  return 0;
}

async function allLayers(set: PersonaSet, source: string, k: number, threads: number, json: boolean, io: CliIO): Promise<number> {
  const rows = await layerSummaries(set, k, threads, io);
  const fit = fitMembers(set);
  if (json) {
    io.out(
      JSON.stringify({
        layers: set.layers,
        n: fit.length,
        dim: set.dim,
        default: set.defaultLabel,
        fit: fit.length === set.names.length ? 'all' : fit.map((i) => set.names[i]),
        per_layer: rows.map((r) => ({
          layer: r.layer,
          explained_variance_ratio: nums(r.explainedVarianceRatio),
          axis_norm: r.cosAxisPc ? r.axisNorm : null,
          cos_axis_pc: nums(r.cosAxisPc),
        })),
      }),
    );
    return 0;
  }
  const cols = (a: ArrayLike<number> | null) => (a ? Array.from(a, (v) => fmt(v).padStart(7)).join(' ') : '-');
  const kk = rows[0]?.explainedVarianceRatio.length ?? k;
  const lines = [
    `${source}: ${describeSet(set)}`,
    `PCA of ${fit.length} members${fit.length < set.names.length ? ' (roles)' : ''} at every layer`,
    `layer  ${`EVR PC1..PC${kk}`.padEnd(8 * kk - 1)}  ${'|axis|'.padStart(10)}  cos(axis, PC1..PC${kk})`,
  ];
  for (const r of rows) {
    lines.push(`${String(r.layer ?? '-').padStart(5)}  ${cols(r.explainedVarianceRatio)}  ${(r.cosAxisPc ? fmt(r.axisNorm) : '-').padStart(10)}  ${cols(r.cosAxisPc)}`);
  }
  io.out(lines.join('\n'));
  return 0;
}
