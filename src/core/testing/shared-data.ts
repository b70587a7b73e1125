/**
 * Test-only: the one place tests (vitest and Playwright) find the shared real data that lives
 * beside the repo as ../shared (never copied into it). A fresh clone has no ../shared: tests that
 * need it skip, with `reason` in their title or skip note. CI has ../shared and sets
 * PERSONA_SPACE_REQUIRE_SHARED=1 (.ci/run), so there a missing folder fails instead of skipping.
 * Framework-free on purpose (vitest and Playwright both import it).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** ../shared beside the repo, or $PERSONA_SPACE_SHARED when set. */
export const SHARED_DIR = process.env.PERSONA_SPACE_SHARED ? path.resolve(process.env.PERSONA_SPACE_SHARED) : path.resolve(REPO_ROOT, '../shared');

export interface SharedData {
  /** Absolute path of the folder or file. */
  path: string;
  present: boolean;
  /** "needs ../shared/<rel>": put it in the skip note. */
  reason: string;
}

/** `rel` under ../shared (e.g. `datasets/llama-3.1-8b-L16/vectors`). Throws when absent and PERSONA_SPACE_REQUIRE_SHARED=1. */
export function sharedData(rel: string): SharedData {
  const p = path.join(SHARED_DIR, rel);
  const present = existsSync(p);
  if (!present && process.env.PERSONA_SPACE_REQUIRE_SHARED === '1') {
    throw new Error(`PERSONA_SPACE_REQUIRE_SHARED=1 but ${p} is missing: the shared data must be beside the repo here.`);
  }
  return { path: p, present, reason: `needs ../shared/${rel}` };
}

/** The Llama 3.1 8B layer-16 role vectors (275 roles + default, single layer, bf16). */
export const LLAMA_L16 = sharedData('datasets/llama-3.1-8b-L16');
export const LLAMA_L16_VECTORS = sharedData('datasets/llama-3.1-8b-L16/vectors');
/** The paper's prompts, questions and transcripts. */
export const PAPER_DATA = sharedData('datasets/assistant-axis-data');

export function readSharedFile(abs: string): Uint8Array {
  const b = readFileSync(abs);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
