/** Minimal argv parsing: positionals, `--flag value`, `--flag=value`, boolean `--json`-style flags. */
export interface ParsedArgs {
  positionals: string[];
  flags: Map<string, string | true>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: string[], booleanFlags: readonly string[] = ['json', 'help', 'data-only']): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      if (eq >= 0) flags.set(name, a.slice(eq + 1));
      else if (booleanFlags.includes(name)) flags.set(name, true);
      else {
        const v = argv[i + 1];
        if (v === undefined || (v.startsWith('--') && v.length > 2)) throw new UsageError(`Option --${name} needs a value.`);
        flags.set(name, v);
        i++;
      }
    } else positionals.push(a);
  }
  return { positionals, flags };
}

export function flagString(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags.get(name);
  if (v === true) throw new UsageError(`Option --${name} needs a value.`);
  return v;
}

export function flagNumber(args: ParsedArgs, name: string): number | undefined {
  const v = flagString(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`Option --${name} expects a number, got "${v}".`);
  return n;
}

export function flagInt(args: ParsedArgs, name: string): number | undefined {
  const n = flagNumber(args, name);
  if (n !== undefined && !Number.isInteger(n)) throw new UsageError(`Option --${name} expects a whole number, got "${n}".`);
  return n;
}

export function flagList(args: ParsedArgs, name: string): string[] | undefined {
  const v = flagString(args, name);
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
}

export function flagIntList(args: ParsedArgs, name: string): number[] | undefined {
  const l = flagList(args, name);
  if (!l) return undefined;
  return l.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new UsageError(`Option --${name} expects whole numbers separated by commas, got "${s}".`);
    return n;
  });
}
