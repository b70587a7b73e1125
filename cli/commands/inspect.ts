/**
 * `persona-space inspect <source>`: what a file or folder holds — a set of vectors, or an axis
 * file (one unnamed (n_layers, d) or (d,) tensor), reported as an axis. The source and flag
 * helpers it uses are the ones every persona command shares (cli/fs-source.ts, cli/persona-args.ts).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { CliIO } from '../main';
import { UsageError, type ParsedArgs } from '../args';
import { loadSource, SOURCE_FLAGS } from '../fs-source';
import { describeSet, fmt, parseCommand, wantsJson } from '../persona-args';
import type { PersonaSet } from '../../src/core/persona/types';
import { AxisOnlyError, axisLayer, describeAxisFile, readAxisFile, type AxisFile } from '../../src/core/persona/axis-file';

const HELP = `usage: persona-space inspect <source> [--default a,b] [--names FILE] [--data-only] [--hub URL] [--json]
<source>: a .pt/.safetensors/.npy/.npz/.tsv/.json file or a folder (per-role files, or the release layout),
          a URL, release:<model> or synthetic:<n>.
          An axis file (one unnamed (n_layers, d) or (d,) tensor, e.g. the release's assistant_axis.pt)
          is reported as an axis: format, layers, dim, dtype and |axis| per layer.
--default a,b   members whose mean is the default vector (they leave the members)
--names FILE    row names for an (N, d) / (N, L, d) array: a JSON list or one name per line
--data-only     read pickled objects of unknown classes as inert records (nothing is executed)
--hub URL       hub origin for URLs and release: (default https://huggingface.co)`;

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, SOURCE_FLAGS, 'inspect');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  if (args.positionals.length > 1) throw new UsageError(`inspect takes one source, got ${args.positionals.length}.`);
  let set: PersonaSet;
  try {
    set = await loadSource(args.positionals[0], args);
  } catch (e) {
    if (!(e instanceof AxisOnlyError)) throw e;
    // A local file or folder: read the axis itself; anything else (a URL) keeps the sentence.
    const local = await stat(args.positionals[0]).catch(() => null);
    if (!local) throw e;
    const file = local.isDirectory() ? path.join(args.positionals[0], String(e.details?.path ?? '')) : args.positionals[0];
    // (The loader names the file relative to the folders it shares with the others; if that is not found, the sentence stands.)
    if (!(await stat(file).catch(() => null))?.isFile()) throw e;
    return inspectAxis(args.positionals[0], file, args, io);
  }
  const kinds: Record<string, number> = {};
  for (const k of set.kinds) kinds[k] = (kinds[k] ?? 0) + 1;
  if (wantsJson(args)) {
    io.out(
      JSON.stringify({
        format: set.format,
        count: set.names.length,
        names: set.names,
        layers: set.layers,
        dim: set.dim,
        dtype: set.dtype,
        default: set.defaultLabel,
        kinds,
        bytes: set.byteSize,
        stored_axis: set.storedAxis ? set.storedAxis.shape : null,
        extras: Object.keys(set.extras),
      }),
    );
    return 0;
  }
  const lines = [
    `${args.positionals[0]}: ${describeSet(set)}`,
    `members: ${Object.entries(kinds).map(([k, c]) => `${c} ${k}${c === 1 ? '' : 's'}`).join(', ')}`,
    `default: ${set.defaultLabel ?? 'none (give --default a,b to average members)'}`,
  ];
  if (set.storedAxis) lines.push(`stored axis: shape [${set.storedAxis.shape.join(', ')}]`);
  const extras = Object.keys(set.extras);
  if (extras.length) lines.push(`also found: ${extras.join(', ')}`);
  const shown = set.names.slice(0, 12).join(', ');
  lines.push(`names: ${shown}${set.names.length > 12 ? `, ... (${set.names.length - 12} more; --json lists all)` : ''}`);
  io.out(lines.join('\n'));
  return 0;
}

/** An axis file (the loader refused it as personas): what it holds, and |axis| per layer. */
async function inspectAxis(source: string, file: string, args: ParsedArgs, io: CliIO): Promise<number> {
  const a = readAxisFile(path.basename(file), new Uint8Array(await readFile(file)), { dataOnly: args.flags.get('data-only') === true });
  const norms = axisNorms(a);
  if (wantsJson(args)) {
    io.out(JSON.stringify({ format: a.format, kind: 'axis', layers: a.layers, dim: a.dim, dtype: a.dtype, key: a.key || null, norms, metadata: a.metadata !== null }));
    return 0;
  }
  let top = 0;
  norms.forEach((v, l) => { if (v > norms[top]) top = l; });
  const lines = [
    `${source}: ${describeAxisFile(a)}`,
    `|axis|: ${a.layers === null ? fmt(norms[0]) : `${fmt(Math.min(...norms))} to ${fmt(Math.max(...norms))} (largest at layer ${top})`}`,
    'an axis, not personas: project a set on it with the explorer\'s "Load as axis", or steer with it in the chat lab',
  ];
  io.out(lines.join('\n'));
  return 0;
}

function axisNorms(a: AxisFile): number[] {
  const out: number[] = [];
  const row = new Float32Array(a.dim);
  for (let l = 0; l < (a.layers ?? 1); l++) {
    axisLayer(a, l, row);
    let s = 0;
    for (let j = 0; j < a.dim; j++) s += row[j] * row[j];
    out.push(Math.sqrt(s));
  }
  return out;
}
