/**
 * Test-only child process: runs one hostile case and reports how much memory it took, so a test
 * can assert a bound the parent process (vitest, with its own heap) cannot measure.
 *
 *   node --expose-gc --import tsx src/core/testing/memory-probe.ts <case> <input file | URL> [maxBytes]
 *
 * Prints one JSON line: { case, ok, error: {name, code, message} | null, baselineKB, peakKB }.
 * `peakKB - baselineKB` is the growth of the process's peak resident set (getrusage maxRSS) while the
 * case ran; the input is read (and the modules loaded) before the baseline is taken.
 */
import { readFileSync } from 'node:fs';

/** Each case loads only the modules it needs (before the baseline), then returns what to measure. */
type Case = (input: string, extra: string | undefined) => Promise<() => unknown>;

const CASES: Record<string, Case> = {
  /** A .pt whose pickle holds many stride-0 views of one tiny storage (`extra`: the copy budget). */
  'pt-stride0': async (file, budget) => {
    const { readPt } = await import('../formats/pt');
    const bytes = readFileSync(file);
    return () => readPt(bytes, budget ? { maxCopiedBytes: Number(budget) } : {});
  },
  /** The same through format detection (what the set loader calls), default limits. */
  'pt-stride0-detect': async (file) => {
    const { readTensorFile } = await import('../formats/detect');
    const bytes = readFileSync(file);
    return () => readTensorFile(bytes, 'views.pt');
  },
  /** An .npz bomb, default limits. */
  'npz-bomb': async (file) => {
    const { readNpz } = await import('../formats/npy');
    const bytes = readFileSync(file);
    return () => readNpz(bytes);
  },
  /** A download that must stop at `extra` bytes (gzip bomb, endless body). */
  fetch: async (url, maxBytes) => {
    const { fetchWithProgress } = await import('../hub/fetch');
    // Node loads its fetch implementation on first use: do that before the baseline.
    await (await fetch('data:application/octet-stream,warm')).arrayBuffer();
    return () => fetchWithProgress(url, { maxBytes: Number(maxBytes), retries: 0, idleTimeoutMs: 10_000 });
  },
};

function maxRssKB(): number {
  return process.resourceUsage().maxRSS;
}

async function main(): Promise<void> {
  const [name, input, extra] = process.argv.slice(2);
  const setup = CASES[name];
  if (!setup) throw new Error(`unknown case ${name}`);
  const run = await setup(input, extra);
  (globalThis as { gc?: () => void }).gc?.();
  const baselineKB = maxRssKB();
  let error: { name: string; code?: string; message: string } | null = null;
  try {
    await run();
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string };
    error = { name: err?.name ?? 'Error', code: err?.code, message: String(err?.message ?? e) };
  }
  const peakKB = maxRssKB();
  process.stdout.write(JSON.stringify({ case: name, ok: error == null, error, baselineKB, peakKB }) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e) + '\n');
  process.exit(2);
});
