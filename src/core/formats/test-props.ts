/**
 * Test-only property helpers: corrupt or cut a valid file and check that a reader either
 * succeeds or throws a PersonaSpaceError — never another exception type, never a hang.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { PersonaSpaceError } from '../errors';

export function onlyTypedErrors(read: () => unknown): 'ok' | 'error' {
  try {
    read();
    return 'ok';
  } catch (e) {
    if (!(e instanceof PersonaSpaceError)) {
      throw new Error(`expected a PersonaSpaceError, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
    }
    expect(e.message.length).toBeGreaterThan(0);
    return 'error';
  }
}

/** Single-byte and few-byte flips anywhere in `bytes`. */
export function checkByteFlips(bytes: Uint8Array, read: (b: Uint8Array) => unknown, numRuns = 200): void {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
      (flips) => {
        const b = bytes.slice();
        for (const [pos, x] of flips) b[pos] ^= x;
        onlyTypedErrors(() => read(b));
      },
    ),
    { numRuns },
  );
}

/** Every prefix (up to `maxCuts` evenly spread cut points); returns how many cuts were refused. */
export function checkTruncations(bytes: Uint8Array, read: (b: Uint8Array) => unknown, maxCuts = 400): { refused: number; cuts: number } {
  const step = Math.max(1, Math.floor(bytes.length / maxCuts));
  let refused = 0;
  let cuts = 0;
  for (let n = 0; n < bytes.length; n += step) {
    cuts++;
    // A fresh copy, so no reader can peek past the cut through the shared buffer.
    if (onlyTypedErrors(() => read(bytes.slice(0, n))) === 'error') refused++;
  }
  return { refused, cuts };
}
