import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROP_SEED, propSeed, props } from './test-props';

describe('pinned, printed property seeds', () => {
  const saved = process.env.PROP_SEED;
  afterEach(() => {
    if (saved === undefined) delete process.env.PROP_SEED;
    else process.env.PROP_SEED = saved;
  });

  it('PROP_SEED wins, else the fixed default; junk is refused', () => {
    expect(propSeed({})).toBe(DEFAULT_PROP_SEED);
    expect(propSeed({ PROP_SEED: '42' })).toBe(42);
    expect(() => propSeed({ PROP_SEED: 'soon' })).toThrow(/PROP_SEED must be an integer/);
    expect(Number.isInteger(propSeed({ PROP_SEED: 'random' }))).toBe(true);
  });

  it('a failure names the test and the seed and says how to replay it; the same seed finds the same counterexample', () => {
    delete process.env.PROP_SEED;
    const prop = () => fc.property(fc.integer({ min: 0, max: 1_000_000 }), (x) => x % 97 !== 13);
    const run = () => {
      try {
        fc.assert(prop(), props({ numRuns: 100_000 }));
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    };
    const a = run(), b = run();
    expect(a).toMatch(new RegExp(`failed with seed ${DEFAULT_PROP_SEED}, path "[\\d:]+"; replay with PROP_SEED=${DEFAULT_PROP_SEED} npx vitest run -t "a failure names the test`));
    expect(a).toContain('pinned, printed property seeds');
    expect(a).toMatch(/Counterexample: \[\d+\]/);
    expect(b).toBe(a);
    process.env.PROP_SEED = '7';
    const c = run();
    expect(c).toMatch(/failed with seed 7,/);
  });

  it('a seed written in the test stands unless PROP_SEED is set; async properties report the same way', async () => {
    delete process.env.PROP_SEED;
    expect(props({ seed: 5 }).seed).toBe(5);
    process.env.PROP_SEED = '9';
    expect(props({ seed: 5 }).seed).toBe(9);
    await expect(fc.assert(fc.asyncProperty(fc.nat(), async (x) => x < 0), props({ numRuns: 10 }))).rejects.toThrow(/failed with seed 9/);
  });
});

describe('every property test is pinned', () => {
  it('each fc.assert in src, cli and workers takes its parameters from props()', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const path = await import('node:path');
    const root = path.resolve(__dirname, '../../..');
    const unpinned: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) { if (e.name !== 'node_modules' && !e.name.startsWith('.')) walk(p); continue; }
        if (!/\.tsx?$/.test(e.name) || e.name === 'test-props.test.ts') continue;
        const text = readFileSync(p, 'utf8');
        const asserts = text.split('fc.assert(').length - 1;
        const pinned = text.split('props(').length - 1;
        if (asserts > pinned) unpinned.push(`${path.relative(root, p)} (${asserts} fc.assert, ${pinned} props)`);
      }
    };
    for (const d of ['src', 'cli', 'workers']) walk(path.join(root, d));
    expect(unpinned).toEqual([]);
  });
});
