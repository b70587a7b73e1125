import { describe, expect, it } from 'vitest';
import { DataError } from '../src/core/errors';
import { syntheticPersonaSet } from './synthetic';

describe('synthetic sets are bounded', () => {
  it('refuses absurd layer counts, widths and totals with one sentence, before any work', () => {
    for (const o of [{ n: 10, layers: 100_000 }, { n: 10, dim: 10_000_000 }, { n: 200_000, layers: 100, dim: 64 }, { n: 10, dim: 1.5 }, { n: 2 }]) {
      expect(() => syntheticPersonaSet(o)).toThrow(DataError);
      expect(() => syntheticPersonaSet(o)).toThrow(/A synthetic set takes/);
    }
  });
  it('still builds ordinary ones', () => {
    const s = syntheticPersonaSet({ n: 20, layers: 3, dim: 8 });
    expect(s.names).toHaveLength(20);
    expect(s.layer(1)).toHaveLength(160);
  });
});
