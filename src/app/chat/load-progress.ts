/**
 * Model-load progress, shared by the chat lab's and the extraction tab's stores: the worker's
 * per-file progress events folded into one view (each file's bytes, files done of total, the last
 * event), handed to the store at most every `throttleMs` while a file is still coming in (always on
 * a file's last chunk), so a fast download does not re-render the picker per chunk. A stage after
 * the downloads (ModelLoadProgress.stage: converting 4-bit weights, preparing our int8 decoder's)
 * is a row of its own, said by `loadStageText`.
 */
import type { ModelLoadProgress } from '../../core/lm/model-source';

export interface FileProgress {
  file: string;
  loaded: number;
  total: number | null;
  cached: boolean;
  /** A load stage, not a file: `file` says it, `loaded` of `total` count `unit` (ModelLoadProgress.stage). */
  stage?: { unit: string; fraction?: number };
}

/** How full a row's bar is (0 to 1): a stage's `fraction` where it has one (it moves within a big linear), else loaded of total. */
export function progressValue(p: Pick<FileProgress, 'loaded' | 'total' | 'stage'>): number {
  const f = p.stage?.fraction;
  if (f !== undefined && Number.isFinite(f)) return Math.min(1, Math.max(0, f));
  return p.total ? Math.min(1, p.loaded / p.total) : 0;
}

/**
 * A stage row in words: 'Preparing weights for our int8 decoder — 57 of 113 linears', with the
 * share of the weights while the stage is under way and has one ('… — 112 of 113 linears, 87% of
 * the weights': it moves inside a big linear, the count does not), '… — done', or '…' while it has
 * no count.
 */
export function loadStageText(p: Pick<FileProgress, 'file' | 'loaded' | 'total' | 'stage'>): string {
  if (p.total === null) return `${p.file}…`;
  if (!p.stage?.unit) return p.loaded >= p.total ? `${p.file} — done` : `${p.file}…`;
  const f = p.stage.fraction;
  const share = f !== undefined && Number.isFinite(f) && p.loaded < p.total ? `, ${Math.floor(Math.min(1, Math.max(0, f)) * 100)}% of the weights` : '';
  return `${p.file} — ${p.loaded} of ${p.total} ${p.stage.unit}${share}`;
}

export interface LoadProgressView {
  files: FileProgress[];
  filesDone: number;
  filesTotal: number;
  last: ModelLoadProgress | null;
}

export interface LoadProgressTracker {
  /** Pass this to ModelClient.load. */
  onProgress(p: ModelLoadProgress): void;
  /** Everything seen so far (for the final state once loading ends). */
  view(): LoadProgressView;
}

export function trackLoadProgress(apply: (v: LoadProgressView) => void, throttleMs = 60, now: () => number = () => performance.now()): LoadProgressTracker {
  const files = new Map<string, FileProgress>();
  let last: ModelLoadProgress | null = null;
  let at = -Infinity;
  const view = (): LoadProgressView => ({ files: [...files.values()], filesDone: last?.filesDone ?? 0, filesTotal: last?.filesTotal ?? 0, last });
  return {
    onProgress(p) {
      files.set(p.file, { file: p.file, loaded: p.loaded, total: p.total, cached: !!p.cached, ...(p.stage ? { stage: p.stage } : {}) });
      last = p;
      const t = now();
      if (t - at < throttleMs && p.total !== null && p.loaded < p.total) return;
      at = t;
      apply(view());
    },
    view,
  };
}
