/**
 * `persona-space pca <source>`: mean-centred PCA of the members at one layer, the default
 * projected afterwards, PCs oriented so that the Assistant Axis projects positively.
 *
 * Layer: `--layer L` (0-based decoder block); without it, the middle layer (n_layers // 2).
 * A single-layer set has no layer index: "layer" is null in the JSON, and --layer may only be 0.
 */
import { flagInt, UsageError } from '../args';
import type { CliIO } from '../main';
import { pcaAtLayer } from '../../src/core/persona/analysis';
import { loadSource, SOURCE_FLAGS } from '../fs-source';
import { chooseLayer, describeSet, fmt, nums, parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space pca <source> [--layer L] [--components K] [--default a,b] [--names FILE] [--json]
Mean-centred PCA of the members (roles only, when the set also holds traits) at one layer.
The default vector is not fit: it is centred with the members' mean and projected afterwards.
Each PC is oriented so that the Assistant Axis (default - mean) projects non-negatively on it.
--layer L        0-based decoder block (default: n_layers // 2; single-layer sets: omit or 0)
--components K   number of components (default 3)`;

export { chooseLayer };

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...SOURCE_FLAGS, 'layer', 'components'], 'pca');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`pca takes one source, got ${args.positionals.length}.`);
  const k = flagInt(args, 'components') ?? 3;
  if (k < 1) throw new UsageError('--components must be at least 1.');
  const set = await loadSource(args.positionals[0], args);
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
