/** Test-only helpers: where the shared real dataset lives (see src/core/testing/shared-data.ts). */
import path from 'node:path';
import { LLAMA_L16 as L16, readSharedFile } from '../testing/shared-data';

export const LLAMA_L16 = L16.path;
export const hasRealData = L16.present;
export const realDataReason = L16.reason;

export function readShared(rel: string): Uint8Array {
  return readSharedFile(path.join(LLAMA_L16, rel));
}
