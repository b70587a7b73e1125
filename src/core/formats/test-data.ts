/** Test-only helpers: where the shared real dataset lives (outside the repo, never copied into it). */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const LLAMA_L16 = path.resolve(repoRoot, '../shared/datasets/llama-3.1-8b-L16');
export const hasRealData = existsSync(path.join(LLAMA_L16, 'vectors'));

export function readShared(rel: string): Uint8Array {
  const b = readFileSync(path.join(LLAMA_L16, rel));
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
