/**
 * The CLI's rollout store: a folder holding `rollouts.jsonl` (one line per finished rollout) and
 * `rollout_means.f32` (each rollout's (layers x d) mean, float32 little-endian, record
 * `mean_index` of the line). A batch is written means first, then its lines, each flushed to disk
 * before the next batch starts; on opening, a torn last line (a killed process) is dropped and the
 * means file cut back to the last whole line, so what is kept is always consistent.
 */
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { DataError } from '../../src/core/errors';
import { rolloutKey, type MemberKind } from '../../src/core/extract/presets';
import { rolloutLine, type RolloutLine, type RolloutRecord, type RolloutStore } from '../../src/core/extract/store';

export const ROLLOUTS_FILE = 'rollouts.jsonl';
export const MEANS_FILE = 'rollout_means.f32';

type Stored = Omit<RolloutRecord, 'mean'> & { meanIndex: number | null };

export class FolderRolloutStore implements RolloutStore {
  private readonly lines: Stored[] = [];
  private nextMean = 0;
  private readonly per: number;

  private constructor(
    readonly dir: string,
    numLayers: number,
    dim: number,
  ) {
    this.per = numLayers * dim;
  }

  /** Open (or start) the store in `dir` for a model with these dimensions. */
  static open(dir: string, numLayers: number, dim: number): FolderRolloutStore {
    const s = new FolderRolloutStore(dir, numLayers, dim);
    s.load();
    return s;
  }

  private get jsonl(): string {
    return path.join(this.dir, ROLLOUTS_FILE);
  }
  private get means(): string {
    return path.join(this.dir, MEANS_FILE);
  }

  private load(): void {
    if (!existsSync(this.jsonl)) {
      writeFileSync(this.jsonl, '');
      writeFileSync(this.means, new Uint8Array(0));
      return;
    }
    const text = readFileSync(this.jsonl, 'utf8');
    const meansBytes = existsSync(this.means) ? fstatSize(this.means) : 0;
    const recordBytes = this.per * 4;
    let goodText = 0;
    let pos = 0;
    for (;;) {
      const nl = text.indexOf('\n', pos);
      if (nl < 0) break; // a torn last line: dropped
      const line = text.slice(pos, nl);
      let o: RolloutLine;
      try {
        o = JSON.parse(line);
      } catch {
        break;
      }
      if (o.mean_index !== null && (o.mean_index + 1) * recordBytes > meansBytes) break;
      if (o.mean_index !== null && o.mean_index !== this.nextMean) {
        throw new DataError('rollouts-file', `${this.jsonl} line ${this.lines.length + 1} points at mean ${o.mean_index}, expected ${this.nextMean}; the folder was edited by hand.`);
      }
      const kind = (o.kind ?? 'role') as MemberKind;
      this.lines.push({
        key: rolloutKey(kind, o.role, o.prompt_index, o.question_id),
        kind,
        member: o.role,
        promptIndex: o.prompt_index,
        questionId: o.question_id,
        ids: o.ids,
        response: o.response,
        text: o.text,
        stopReason: o.stop_reason,
        meanIndex: o.mean_index,
      });
      if (o.mean_index !== null) this.nextMean++;
      goodText = nl + 1;
      pos = nl + 1;
    }
    if (goodText < Buffer.byteLength(text)) writeFileSync(this.jsonl, text.slice(0, goodText));
    if (meansBytes !== this.nextMean * recordBytes) {
      const fd = openSync(this.means, 'r+');
      try {
        ftruncateSync(fd, this.nextMean * recordBytes);
      } finally {
        closeSync(fd);
      }
    }
  }

  async append(records: readonly RolloutRecord[]): Promise<void> {
    const lines: string[] = [];
    const fdm = openSync(this.means, 'a');
    try {
      for (const r of records) {
        let idx: number | null = null;
        if (r.mean) {
          if (r.mean.length !== this.per) throw new DataError('rollout-shape', `A rollout mean holds ${r.mean.length} numbers, not ${this.per}.`);
          writeSync(fdm, new Uint8Array(r.mean.buffer, r.mean.byteOffset, r.mean.byteLength));
          idx = this.nextMean++;
        }
        lines.push(rolloutLine(r, idx) + '\n');
        this.lines.push({ ...r, ids: [...r.ids], meanIndex: idx });
      }
      fsyncSync(fdm);
    } finally {
      closeSync(fdm);
    }
    const fdl = openSync(this.jsonl, 'a');
    try {
      writeSync(fdl, lines.join(''));
      fsyncSync(fdl);
    } finally {
      closeSync(fdl);
    }
  }

  async scan(fn: (r: RolloutRecord) => void | Promise<void>): Promise<void> {
    const fd = openSync(this.means, 'r');
    try {
      for (const s of this.lines) {
        let mean: Float32Array | null = null;
        if (s.meanIndex !== null) {
          mean = new Float32Array(this.per);
          readSync(fd, new Uint8Array(mean.buffer), 0, this.per * 4, s.meanIndex * this.per * 4);
        }
        const { meanIndex: _m, ...rest } = s;
        void _m;
        await fn({ ...rest, mean });
      }
    } finally {
      closeSync(fd);
    }
  }

  async count(): Promise<number> {
    return this.lines.length;
  }
}

function fstatSize(p: string): number {
  const fd = openSync(p, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}
