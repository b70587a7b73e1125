/**
 * `persona-space` command line. Each command lives in `commands/<name>.ts` and exports
 * `run(argv: string[], io: CliIO): Promise<number>`. Errors a user can cause print one line on
 * stderr and exit non-zero, never a stack trace.
 */
import { isPersonaSpaceError } from '../src/core/errors';
import { UsageError } from './args';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(argv: string[], io: CliIO): Promise<number> }> }> = {
  inspect: { summary: 'inspect <source>                      what a file or folder holds', load: () => import('./commands/inspect') },
  pca: { summary: 'pca <source> [--layer L] [--components K] [--default a,b] [--names FILE]', load: () => import('./commands/pca') },
  axis: { summary: 'axis <source> [--default a,b] [--out FILE]   the Assistant Axis at every layer', load: () => import('./commands/axis') },
  compare: { summary: 'compare <A> <B> [--layer-a L] [--layer-b L]   PC1 loadings of two sets', load: () => import('./commands/compare') },
  convert: { summary: 'convert <source> --out FILE           to .safetensors, .npy or projector .tsv', load: () => import('./commands/convert') },
  model: { summary: 'model build|random|run ...            build, make and run ONNX decoders', load: () => import('./commands/model') },
  generate: { summary: 'generate <model-dir> --prompt TEXT    chat with steering/capping and taps', load: () => import('./commands/generate') },
  extract: { summary: 'extract <model-dir> --preset quick --out DIR   this model\'s role vectors, default and axis', load: () => import('./commands/extract') },
  chat: { summary: 'chat <model-dir> --axis FILE --layer L (--transcript FILE [--replay] | --prompt TEXT)   per-turn projections on the axis', load: () => import('./commands/chat') },
};

export function usage(): string {
  return [
    'usage: persona-space <command> [options]   (add --json for machine-readable output)',
    '',
    ...Object.values(COMMANDS).map((c) => '  ' + c.summary),
    '',
    '<source>     a file or folder, a URL (file or hub folder, hf://...), release:<model>, synthetic:N[xL][dD],',
    '             or extraction:<extract --out folder>; --hub URL sets the hub origin',
    '<model-dir>  a folder in transformers.js layout, hf:owner/name[@revision], or synthetic[:SEED];',
    '             weights: --onnx onnx/NAME.onnx, else --dtype fp32|fp16|q8|int8|uint8|q4|q4f16, else fp32 first',
    'layers       0-based decoder blocks; windows (--steer-layers, --cap-layers) as 3,4 or 10-20',
  ].join('\n');
}

export const stdio: CliIO = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
};

export async function main(argv: string[], io: CliIO = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`persona-space: unknown command "${name}". Run persona-space --help for the list.`);
    return 2;
  }
  try {
    const mod = await cmd.load();
    return await mod.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`persona-space ${name}: ${e.message}`);
      return 2;
    }
    if (isPersonaSpaceError(e)) {
      io.err(`persona-space ${name}: ${e.message}`);
      return 1;
    }
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT') {
      io.err(`persona-space ${name}: no such file or folder: ${(e as NodeJS.ErrnoException).path ?? ''}`);
      return 1;
    }
    if (code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') {
      io.err(`persona-space ${name}: cannot read ${(e as NodeJS.ErrnoException).path ?? 'the input'} (${code}).`);
      return 1;
    }
    io.err(`persona-space ${name}: unexpected error: ${(e as Error)?.message ?? String(e)}`);
    return 1;
  }
}
