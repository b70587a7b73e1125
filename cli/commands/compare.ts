/**
 * `persona-space compare <A> <B>`: PC1 loadings (coordinates on PC1) of the names two sets share,
 * each from its own PCA, correlated (Pearson and Spearman). The paper reports > 0.92 between models.
 */
import { flagInt, UsageError } from '../args';
import type { CliIO } from '../main';
import { comparePc1 } from '../../src/core/persona/analysis';
import { loadSource } from '../fs-source';
import { chooseLayer, fmt, parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space compare <A> <B> [--layer-a L] [--layer-b L] [--default-a a,b] [--default-b a,b]
       [--names-a FILE] [--names-b FILE] [--json]
PCA of each set at its layer (default: its middle layer), then Pearson and Spearman correlation of the
PC1 loadings over the names both sets hold. PC1 signs follow each set's Assistant Axis; when a set has
no default, B's sign is chosen to agree with A's.`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, ['layer-a', 'layer-b', 'default-a', 'default-b', 'names-a', 'names-b', 'data-only', 'json', 'help'], 'compare');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length !== 2) throw new UsageError(`compare takes two sources (A and B), got ${args.positionals.length}.`);
  const [srcA, srcB] = args.positionals;
  const a = await loadSource(srcA, args, { defaultFlag: 'default-a', namesFlag: 'names-a', what: 'source A' });
  const b = await loadSource(srcB, args, { defaultFlag: 'default-b', namesFlag: 'names-b', what: 'source B' });
  const layerA = chooseLayer(a, flagInt(args, 'layer-a'), 'layer-a');
  const layerB = chooseLayer(b, flagInt(args, 'layer-b'), 'layer-b');
  const r = comparePc1(a, layerA, b, layerB);
  if (wantsJson(args)) {
    io.out(
      JSON.stringify({
        n_common: r.nCommon,
        pearson_pc1: r.pearson,
        spearman_pc1: r.spearman,
        layer_a: layerA,
        layer_b: layerB,
        sign_aligned: r.signAligned,
        names: r.names,
        pc1_a: Array.from(r.pc1A),
        pc1_b: Array.from(r.pc1B),
      }),
    );
    return 0;
  }
  io.out(
    [
      `A: ${srcA}${layerA === null ? '' : ` (layer ${layerA})`}; B: ${srcB}${layerB === null ? '' : ` (layer ${layerB})`}`,
      `${r.nCommon} shared names (A has ${a.names.length}, B has ${b.names.length})`,
      `PC1 loadings: Pearson ${fmt(r.pearson)}, Spearman ${fmt(r.spearman)}${r.signAligned ? '  (sign of B aligned to A: a set has no default)' : ''}`,
    ].join('\n'),
  );
  return 0;
}
