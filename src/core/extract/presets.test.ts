import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPersonaSet } from '../persona/load';
import { ROLE_NAMES } from '../persona/names';
import type { PersonaSet } from '../persona/types';
import { calibrationFromRoleVectors, cosine } from './aggregate';
import { HAVE_LLAMA_L16, LLAMA_L16_DIR } from './extract.testkit';
import { countRollouts, planRollouts, presetSettings, QUICK_ROLES, rolloutSeed } from './presets';

function ranks(v: number[]): number[] {
  const o = v.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(v.length);
  o.forEach(([, i], k) => (r[i] = k));
  return r;
}
function spearman(a: number[], b: number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += (ra[i] - rb[i]) ** 2;
  return 1 - (6 * s) / (n * (n * n - 1));
}

describe('presets', () => {
  it('Quick: 50 distinct official roles, 2 prompts x 6 questions, the default with at least 100 rollouts', () => {
    expect(new Set(QUICK_ROLES).size).toBe(50);
    for (const r of QUICK_ROLES) expect(ROLE_NAMES).toContain(r);
    const q = presetSettings('quick');
    const c = countRollouts(q);
    expect(c.defaultRollouts).toBeGreaterThanOrEqual(100);
    expect(c.rollouts).toBe(50 * 12 + c.defaultRollouts);
    expect(c.maxTokens).toBe(c.rollouts * 64);
    expect(countRollouts(presetSettings('standard')).rollouts).toBe(275 * 8 + 100);
    expect(countRollouts(presetSettings('full')).rollouts).toBe(276 * 1200);
  });

  it('plans each rollout once, the default first; seeds depend on the key only', () => {
    const s = presetSettings('quick', { roles: ['ghost', 'pirate'], traits: ['blunt'], prompts: 2, questions: 3, defaultPrompts: 2, defaultQuestions: 2 });
    const plan = planRollouts(s, [10, 11, 12, 13]);
    expect(plan).toHaveLength(4 + 3 * 2 * 3);
    expect(new Set(plan.map((p) => p.key)).size).toBe(plan.length);
    expect(plan.slice(0, 4).every((p) => p.kind === 'default')).toBe(true);
    expect(plan.filter((p) => p.kind === 'trait')).toHaveLength(6);
    expect(plan.map((p) => p.questionId).filter((q) => q === 13)).toHaveLength(0);
    expect(rolloutSeed(1, 'role:ghost:0:1')).toBe(rolloutSeed(1, 'role:ghost:0:1'));
    expect(rolloutSeed(1, 'role:ghost:0:1')).not.toBe(rolloutSeed(2, 'role:ghost:0:1'));
  });

  it('refuses unknown names and out-of-range sizes with one sentence', () => {
    expect(() => presetSettings('quick', { roles: ['__proto__'] })).toThrow('"__proto__" is not one of the paper\'s 275 roles.');
    expect(() => presetSettings('quick', { prompts: 6 })).toThrow(/prompts must be a whole number from 1 to 5, got 6/);
    expect(() => presetSettings('nope' as 'quick')).toThrow(/not a preset/);
  });
});

describe.skipIf(!HAVE_LLAMA_L16)('the Quick subset on real vectors (needs ../shared/datasets/llama-3.1-8b-L16)', () => {
  let set: PersonaSet;
  beforeAll(async () => {
    const files = readdirSync(LLAMA_L16_DIR).map((f) => ({ path: f, read: async () => new Uint8Array(readFileSync(path.join(LLAMA_L16_DIR, f))) }));
    set = await loadPersonaSet(files);
  });

  it('its axis has cos >= 0.97 with the 275-role axis, and all 275 projections keep their order (Spearman >= 0.99)', () => {
    expect(set.names).toHaveLength(275);
    const d = set.dim;
    const X = set.layer(0);
    const def = set.defaultAt(0)!;
    const axisOf = (idx: number[]) => {
      const a = new Float64Array(d);
      for (const i of idx) for (let j = 0; j < d; j++) a[j] += X[i * d + j] / idx.length;
      return a.map((v, j) => def[j] - v);
    };
    const all = axisOf(set.names.map((_, i) => i));
    const quick = axisOf(QUICK_ROLES.map((r) => set.names.indexOf(r)));
    const proj = (a: Float64Array) => set.names.map((_, i) => X.subarray(i * d, i * d + d).reduce((s, v, j) => s + v * a[j], 0));
    const c = cosine(quick, all);
    const rho = spearman(proj(quick), proj(all));
    expect(c).toBeGreaterThanOrEqual(0.97);
    expect(rho).toBeGreaterThanOrEqual(0.99);
    // And it does better than the first 50 roles alphabetically would.
    const naive = axisOf(set.names.slice(0, 50).map((_, i) => i));
    expect(c).toBeGreaterThan(cosine(naive, all));
  });

  it('calibration from role vectors alone: labelled as such, one projection per role, the default apart', () => {
    const cal = calibrationFromRoleVectors(set);
    expect(cal.basis).toBe('role-vectors');
    expect(cal.numLayers).toBe(1);
    expect(cal.role.count).toBe(275);
    expect(cal.default!.count).toBe(1);
    expect(cal.all.count).toBe(276);
    const p = cal.role.percentiles[0];
    expect(p).toHaveLength(99);
    for (let k = 1; k < 99; k++) expect(p[k]).toBeGreaterThanOrEqual(p[k - 1]);
    // The default sits at the Assistant end: above the roles' median.
    expect(cal.default!.percentiles[0][0]).toBeGreaterThan(p[49]);
    const sorted = [...cal.role.projections![0]].sort((a, b) => a - b);
    expect(p[49]).toBeCloseTo((sorted[137] + sorted[137]) / 2, 9);
  });
});
