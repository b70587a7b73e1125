/**
 * Per-layer work shared out over worker threads, for every command that walks the layers
 * (`pca --all-layers`, `axis`): `--threads N` (default min(2, CPU cores); 1 walks the layers on
 * this thread), the same numbers either way (workers/pca-pool.ts runs the core's own per-layer code).
 */
import os from 'node:os';
import { flagInt, UsageError, type ParsedArgs } from './args';
import type { CliIO } from './main';
import { isPersonaSpaceError } from '../src/core/errors';
import { cosAxisPcPerLayer, type LayerSummary } from '../src/core/persona/analysis';
import type { PersonaSet } from '../src/core/persona/types';
import { createPcaPool } from '../workers/pca-pool';
import { nodePcaWorker } from '../workers/pca-pool-node';

/** The help line for --threads. */
export const THREADS_HELP = '--threads N      worker threads for the per-layer work (default min(2, CPU cores); 1: this thread only)';

/** `--threads N`, checked (1..64), or the default min(2, CPU cores). */
export function threadsFlag(args: ParsedArgs): number {
  const threads = flagInt(args, 'threads') ?? Math.min(2, os.availableParallelism());
  if (threads < 1 || threads > 64) throw new UsageError('--threads must be between 1 and 64.');
  return threads;
}

/**
 * |axis|, cos(axis, PC1..PC_k) and the explained-variance ratios at every layer, in layer order, on
 * `threads` workers (this thread when 1, or for a set of one layer); `keepAxis` keeps each layer's
 * axis. Worker threads that fail to start fall back to this thread, saying so on stderr.
 */
export async function layerSummaries(set: PersonaSet, k: number, threads: number, io: CliIO, opts: { keepAxis?: boolean } = {}): Promise<LayerSummary[]> {
  if (threads < 2 || set.layers === null || set.layers < 2) return cosAxisPcPerLayer(set, k, opts);
  const pool = createPcaPool(nodePcaWorker, { size: Math.min(threads, set.layers) });
  try {
    return await pool.cosAxisPcPerLayer(set, k, opts);
  } catch (e) {
    if (isPersonaSpaceError(e)) throw e;
    io.err(`worker threads failed (${e instanceof Error ? e.message : String(e)}); running the layers on one thread`);
    return cosAxisPcPerLayer(set, k, opts);
  } finally {
    pool.close();
  }
}
