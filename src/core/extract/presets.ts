/**
 * What an extraction runs: which roles (and traits), how many of each one's system prompts, how
 * many of the shared questions, and the default's share. Presets size it for where it runs.
 */
import { DataError } from '../errors';
import { ROLE_NAMES, TRAIT_NAMES } from '../persona/names';

/**
 * Quick: 50 of the 275 roles, evenly spaced along the projections of all 275 roles on the
 * 275-role Assistant Axis of Llama-3.1-8B-Instruct layer 16 (../shared/datasets/llama-3.1-8b-L16,
 * where that ordering tracks PC1), then each swapped with a neighbour (+-2 places) where that
 * brings the subset's axis closer to the full one. On that data the subset's axis has cos 0.997
 * with the 275-role axis and the 275 roles' projections on both have Spearman 0.9998 (tested).
 */
export const QUICK_ROLES: readonly string[] = [
  'zealot', 'fool', 'hermit', 'smuggler', 'prisoner', 'revenant', 'provocateur', 'daredevil', 'amnesiac', 'chimera',
  'hedonist', 'wind', 'crystalline', 'spirit', 'musician', 'avatar', 'familiar', 'playwright', 'survivor', 'sage',
  'traditionalist', 'podcaster', 'dilettante', 'newlywed', 'parent', 'influencer', 'virus', 'merchant', 'scout', 'cartographer',
  'altruist', 'conservator', 'perfectionist', 'linguist', 'anthropologist', 'ecosystem', 'networker', 'futurist', 'librarian', 'pharmacist',
  'realist', 'observer', 'teacher', 'economist', 'tutor', 'editor', 'debugger', 'examiner', 'planner', 'evaluator',
];

export type PresetName = 'quick' | 'standard' | 'full';

export interface ExtractSettings {
  roles: string[];
  traits: string[];
  /** First K system prompts of each role / trait (of 5). */
  prompts: number;
  /** First N shared questions (of 240). */
  questions: number;
  /** The default's own prompts and questions (the default needs more rollouts than one role). */
  defaultPrompts: number;
  defaultQuestions: number;
  maxNewTokens: number;
  /** Rows per batch. */
  batch: number;
  seed: number;
  /** 0 = greedy. The reference: 0.7 and top-p 0.9. */
  temperature: number;
  topP: number;
  /** Stop once the split-half stability reaches this (null: run everything). */
  stopAt: number | null;
  preset: PresetName | 'custom';
}

export const REFERENCE_SAMPLING = { temperature: 0.7, topP: 0.9 } as const;

export const PRESETS: Record<PresetName, Pick<ExtractSettings, 'roles' | 'prompts' | 'questions' | 'defaultPrompts' | 'defaultQuestions'>> = {
  quick: { roles: [...QUICK_ROLES], prompts: 2, questions: 6, defaultPrompts: 5, defaultQuestions: 20 },
  standard: { roles: [...ROLE_NAMES], prompts: 2, questions: 4, defaultPrompts: 5, defaultQuestions: 20 },
  full: { roles: [...ROLE_NAMES], prompts: 5, questions: 240, defaultPrompts: 5, defaultQuestions: 240 },
};

export function presetSettings(name: PresetName, overrides: Partial<ExtractSettings> = {}): ExtractSettings {
  const p = PRESETS[name];
  if (!p) throw new DataError('preset', `"${String(name)}" is not a preset; use quick, standard or full.`);
  return normalizeSettings({ ...p, traits: [], maxNewTokens: 64, batch: 8, seed: 0, ...REFERENCE_SAMPLING, stopAt: null, preset: name, ...overrides });
}

/** Settings checked: known role and trait names, sizes in range. */
export function normalizeSettings(s: ExtractSettings): ExtractSettings {
  const roles = new Set(ROLE_NAMES);
  const traits = new Set(TRAIT_NAMES);
  for (const r of s.roles) {
    if (!roles.has(r)) throw new DataError('unknown-role', `"${r}" is not one of the paper's 275 roles.`);
  }
  for (const t of s.traits) {
    if (!traits.has(t)) throw new DataError('unknown-trait', `"${t}" is not one of the paper's 240 traits.`);
  }
  if (s.roles.length + s.traits.length === 0) throw new DataError('no-roles', 'Choose at least one role or trait.');
  const int = (v: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new DataError('setting', `${what} must be a whole number from ${lo} to ${hi}, got ${v}.`);
  };
  int(s.prompts, 1, 5, 'The number of prompts');
  int(s.defaultPrompts, 1, 5, 'The number of default prompts');
  int(s.questions, 1, 240, 'The number of questions');
  int(s.defaultQuestions, 1, 240, 'The number of default questions');
  int(s.maxNewTokens, 1, 4096, 'The number of new tokens');
  int(s.batch, 1, 256, 'The batch size');
  int(s.seed, 0, 2 ** 32 - 1, 'The seed');
  if (!(s.temperature >= 0 && s.temperature <= 5)) throw new DataError('setting', `The temperature must be between 0 and 5, got ${s.temperature}.`);
  if (!(s.topP > 0 && s.topP <= 1)) throw new DataError('setting', `top-p must be above 0 and at most 1, got ${s.topP}.`);
  if (s.stopAt !== null && !(s.stopAt > 0 && s.stopAt <= 1)) throw new DataError('setting', `The stability threshold must be above 0 and at most 1, got ${s.stopAt}.`);
  return { ...s, roles: [...new Set(s.roles)], traits: [...new Set(s.traits)] };
}

export type MemberKind = 'role' | 'trait' | 'default';

/** One rollout to run (prompt text filled in later from the data). */
export interface RolloutSpec {
  /** `<kind>:<member>:<prompt index>:<question id>`, unique in a run. */
  key: string;
  kind: MemberKind;
  member: string;
  promptIndex: number;
  questionId: number;
}

export function rolloutKey(kind: MemberKind, member: string, promptIndex: number, questionId: number): string {
  return `${kind}:${member}:${promptIndex}:${questionId}`;
}

/**
 * Every rollout of a run, in the order they are run: the default first (so the axis and the
 * stability meter have something early), then members interleaved by question so that every
 * role has a few rollouts early on.
 */
export function planRollouts(s: ExtractSettings, questionIds: readonly number[]): RolloutSpec[] {
  const out: RolloutSpec[] = [];
  const spec = (kind: MemberKind, member: string, p: number, q: number) => out.push({ key: rolloutKey(kind, member, p, q), kind, member, promptIndex: p, questionId: q });
  const dq = questionIds.slice(0, s.defaultQuestions);
  for (const q of dq) for (let p = 0; p < s.defaultPrompts; p++) spec('default', 'default', p, q);
  const mq = questionIds.slice(0, s.questions);
  for (const q of mq) {
    for (let p = 0; p < s.prompts; p++) {
      for (const r of s.roles) spec('role', r, p, q);
      for (const t of s.traits) spec('trait', t, p, q);
    }
  }
  return out;
}

/** Rollouts and the most tokens they can generate. */
export function countRollouts(s: ExtractSettings): { rollouts: number; defaultRollouts: number; maxTokens: number } {
  const defaultRollouts = s.defaultPrompts * Math.min(s.defaultQuestions, 240);
  const rollouts = defaultRollouts + (s.roles.length + s.traits.length) * s.prompts * s.questions;
  return { rollouts, defaultRollouts, maxTokens: rollouts * s.maxNewTokens };
}

/** A 32-bit seed per rollout from the run's seed and the rollout's key: the same whatever the batch or order. */
export function rolloutSeed(runSeed: number, key: string): number {
  let h = (0x811c9dc5 ^ runSeed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
