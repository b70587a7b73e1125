/**
 * Where finished rollouts go, one batch at a time as they finish, so that a closed tab, a crash or
 * a killed process costs at most the batch in flight. Implementations: a folder (the CLI:
 * rollouts.jsonl + rollout_means.f32), IndexedDB (the browser), memory (tests).
 */
import type { MemberKind } from './presets';

export interface RolloutRecord {
  key: string;
  kind: MemberKind;
  /** The role, trait or `default`. */
  member: string;
  promptIndex: number;
  questionId: number;
  /** Every token id of the conversation: the templated prompt, then the answer as generated. */
  ids: number[];
  /** [start, end): the answer's content tokens as positions in `ids` (empty when start = end). */
  response: [number, number];
  text: string;
  stopReason: string;
  /** (layers x d) mean of resid_post over the content tokens; null for an empty answer. */
  mean: Float32Array | null;
}

export interface RolloutStore {
  /** Store finished rollouts (durably, before resolving). */
  append(records: readonly RolloutRecord[]): Promise<void>;
  /** Every stored rollout, in the order stored. */
  scan(fn: (r: RolloutRecord) => void | Promise<void>): Promise<void>;
  /** How many are stored. */
  count(): Promise<number>;
}

export class MemoryRolloutStore implements RolloutStore {
  readonly records: RolloutRecord[] = [];
  async append(records: readonly RolloutRecord[]): Promise<void> {
    for (const r of records) this.records.push({ ...r, ids: [...r.ids], mean: r.mean ? r.mean.slice() : null });
  }
  async scan(fn: (r: RolloutRecord) => void | Promise<void>): Promise<void> {
    for (const r of this.records) await fn(r);
  }
  async count(): Promise<number> {
    return this.records.length;
  }
}

/** A rollout as a line of rollouts.jsonl (the mean is stored apart, as binary). */
export function rolloutLine(r: RolloutRecord, meanIndex: number | null): string {
  return JSON.stringify({
    role: r.member,
    kind: r.kind,
    prompt_index: r.promptIndex,
    question_id: r.questionId,
    ids: r.ids,
    response: r.response,
    text: r.text,
    stop_reason: r.stopReason,
    mean_index: meanIndex,
  });
}

export interface RolloutLine {
  role: string;
  kind: MemberKind;
  prompt_index: number;
  question_id: number;
  ids: number[];
  response: [number, number];
  text: string;
  stop_reason: string;
  mean_index: number | null;
}
