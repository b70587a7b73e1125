/**
 * Loading benchmark (`npx tsx bench/load.bench.ts [--quick]`), JSON lines on stdout:
 *  1. a synthetic release (275 role files of (L, d) bf16 .pt, in memory; L=80, d=8192 is ~360 MB,
 *     the size of Llama 3.3 70B's) through loadPersonaSet: wall ms as loaded by default (no storage
 *     checksums, like torch.load), and with `verifyChecksums` (CRC-32 of every storage);
 *  2. decoding one layer (275 x d to float32) from the loaded set into a reused buffer: median ms
 *     over 9 runs, against the same decode from one contiguous bf16 block (ratio = set / block);
 *     also with a fresh output array per call (page faults make that the slower way);
 *  3. peak RSS, to show the set is never held in float32 as a whole.
 */
import os from 'node:os';
import { writePt } from '../src/core/formats/pt';
import { loadPersonaSet } from '../src/core/persona/load';
import type { VirtualFile } from '../src/core/persona/types';
import { decodeF32, type RawTensor } from '../src/core/tensor';

const quick = process.argv.includes('--quick');
const N = 275;
const L = quick ? 8 : 80;
const d = quick ? 1024 : 8192;
const load = () => os.loadavg()[0];
let peak = 0;
const sample = () => (peak = Math.max(peak, process.memoryUsage().rss));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const member = new Uint8Array(L * d * 2);
for (let i = 0; i < member.length; i += 2) {
  member[i] = (i * 2654435761) >>> 24;
  member[i + 1] = 0x3c + ((i >> 4) & 3); // bf16 values around 0.01..1
}
const fileBytes = writePt({ dtype: 'bfloat16', shape: [L, d], data: member } as RawTensor);
const files: VirtualFile[] = Array.from({ length: N }, (_, k) => {
  const b = fileBytes.slice();
  return { path: `role_vectors/role${k}.pt`, size: b.length, read: async () => b };
});
sample();

async function timeLoad(verifyChecksums: boolean): Promise<number> {
  const t0 = performance.now();
  const s = await loadPersonaSet(files, { verifyChecksums });
  const ms = performance.now() - t0;
  if (s.names.length !== N) throw new Error('bad set');
  sample();
  return ms;
}
await timeLoad(false); // warm-up
const la = load();
const withoutCrc = median([await timeLoad(false), await timeLoad(false), await timeLoad(false)]);
const withCrc = median([await timeLoad(true), await timeLoad(true), await timeLoad(true)]);
console.log(JSON.stringify({ bench: 'load-release', roles: N, layers: L, dim: d, mb: Math.round((N * L * d * 2) / 2 ** 20), load_ms: Math.round(withoutCrc), with_checksums_ms: Math.round(withCrc), ratio: +(withCrc / withoutCrc).toFixed(2), loadavg: +la.toFixed(1), node: process.version }));

const set = await loadPersonaSet(files);
const block: RawTensor = { dtype: 'bfloat16', shape: [N, d], data: new Uint8Array(N * d * 2) };
const out = new Float32Array(N * d);
const setTimes: number[] = [];
const freshTimes: number[] = [];
const blockTimes: number[] = [];
const reuse = new Float32Array(N * d);
for (let r = 0; r < 11; r++) {
  let t0 = performance.now();
  set.layer(r % L, reuse);
  if (r >= 2) setTimes.push(performance.now() - t0);
  t0 = performance.now();
  set.layer(r % L);
  if (r >= 2) freshTimes.push(performance.now() - t0);
  t0 = performance.now();
  decodeF32(block, 0, N * d, out);
  if (r >= 2) blockTimes.push(performance.now() - t0);
}
sample();
const ms = median(setTimes);
const base = median(blockTimes);
console.log(JSON.stringify({ bench: 'layer-decode', roles: N, dim: d, median_ms: +ms.toFixed(2), fresh_array_median_ms: +median(freshTimes).toFixed(2), baseline_block_ms: +base.toFixed(2), ratio: +(ms / base).toFixed(2), loadavg: +load().toFixed(1) }));
console.log(JSON.stringify({ bench: 'load-memory', peak_rss_mb: Math.round(peak / 2 ** 20), raw_mb: Math.round((N * L * d * 2) / 2 ** 20), float32_whole_mb: Math.round((N * L * d * 4) / 2 ** 20) }));
