/**
 * The model worker's extraction feature: runs `runExtraction` on the loaded model with the
 * IndexedDB store, keeps the list of runs, pauses, resumes (same model + settings = same run),
 * deletes, and hands the result back as release-layout files. The model core delegates to it.
 */
import { assistantAxisData, type AssistantAxisDataOptions } from '../src/core/data/assistant-axis-data';
import { PersonaSpaceError } from '../src/core/errors';
import { engineBackend } from '../src/core/extract/backend';
import { estimateRun, runExtraction, type ExtractionResult } from '../src/core/extract/pipeline';
import { normalizeSettings, rolloutSeed, type ExtractSettings } from '../src/core/extract/presets';
import { extractionAxisBundle, releaseFiles } from '../src/core/extract/release';
import type { LmEngine } from '../src/core/lm/generate';
import type { ChatTokenizer } from '../src/core/lm/tokenizer';
import type { AxisBundle } from '../src/core/persona/axis-bundle';
import { deleteRun, getRun, IdbRolloutStore, listRuns, openExtractDb, putRun } from './extract-store-idb';
import type { Estimate, ExtractEvent, ExtractFile, ExtractRunInfo, ExtractSummary } from './extract-protocol';

export interface LoadedForExtract {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  info: { label: string; numLayers: number; hiddenSize: number; stopIds: number[] };
}

/** The run id: the same model and the same settings resume the same run. */
export function runIdOf(model: string, numLayers: number, hiddenSize: number, s: ExtractSettings): string {
  const key = JSON.stringify([model, numLayers, hiddenSize, s.roles, s.traits, s.prompts, s.questions, s.defaultPrompts, s.defaultQuestions, s.maxNewTokens, s.seed, s.temperature, s.topP]);
  return `run-${rolloutSeed(1, key).toString(16).padStart(8, '0')}${rolloutSeed(2, key).toString(16).padStart(8, '0')}`;
}

export class ExtractFeature {
  private db: Promise<IDBDatabase> | null = null;
  private abort: AbortController | null = null;

  constructor(
    private readonly need: () => LoadedForExtract,
    private readonly dataOptions: AssistantAxisDataOptions = {},
    private readonly idb: () => IDBFactory = () => indexedDB,
  ) {}

  private data(base: string | undefined) {
    return assistantAxisData({ ...this.dataOptions, ...(base ? { base } : {}) });
  }

  private open(): Promise<IDBDatabase> {
    return (this.db ??= openExtractDb(this.idb()));
  }

  get busy(): boolean {
    return this.abort !== null;
  }

  async estimate(settings: ExtractSettings, warm = true): Promise<Estimate> {
    const s = normalizeSettings(settings);
    if (!warm) return estimateRun(s);
    const m = this.need();
    return estimateRun(s, { backend: engineBackend(m.engine), tokenizer: m.tokenizer, stopIds: m.info.stopIds, warmupTokens: 4 });
  }

  async runs(): Promise<ExtractRunInfo[]> {
    // A run marked running that is not running here was cut off (tab closed, crash): it is paused.
    return (await listRuns(await this.open())).map((r) =>
      r.status === 'running' && r.id !== this.current ? { ...r, status: 'paused', message: 'Stopped when the page closed; every finished rollout is kept.' } : r,
    );
  }

  async remove(id: string): Promise<void> {
    if (this.abort && this.current === id) throw new PersonaSpaceError('busy', 'This run is in progress; pause it before deleting it.');
    await deleteRun(await this.open(), id);
  }

  private current: string | null = null;

  /** Start, or resume, the run for these settings on the loaded model. Resolves when it ends (done, paused, stable). */
  async start(settings: ExtractSettings, modelName: string, onEvent?: (e: ExtractEvent) => void, dataBase?: string): Promise<ExtractSummary> {
    if (this.abort) throw new PersonaSpaceError('busy', 'An extraction is already running; pause it first.');
    const s = normalizeSettings(settings);
    const m = this.need();
    const db = await this.open();
    const id = runIdOf(m.info.label, m.info.numLayers, m.info.hiddenSize, s);
    const now = Date.now();
    const prev = await getRun(db, id);
    const run: ExtractRunInfo = prev ?? { id, model: m.info.label, modelName, numLayers: m.info.numLayers, hiddenSize: m.info.hiddenSize, settings: s, status: 'running', message: null, done: 0, total: 0, stability: null, createdAt: now, updatedAt: now };
    run.settings = { ...s };
    if (dataBase) run.dataBase = dataBase;
    run.status = 'running';
    run.updatedAt = now;
    await putRun(db, run);
    this.abort = new AbortController();
    this.current = id;
    try {
      const r = await runExtraction({
        settings: s,
        data: this.data(run.dataBase),
        tokenizer: m.tokenizer,
        backend: engineBackend(m.engine),
        store: new IdbRolloutStore(db, id),
        modelName: run.modelName,
        stopIds: m.info.stopIds,
        signal: this.abort.signal,
        keepProjections: false,
        onProgress: (p) => {
          run.done = p.done;
          run.total = p.total;
          run.stability = p.stability;
          onEvent?.({ type: 'progress', runId: id, progress: p });
        },
        onBatch: (agg) => {
          // The list of runs shows how far a run got even if the tab dies before it ends.
          run.updatedAt = Date.now();
          void putRun(db, { ...run }).catch(() => {});
          onEvent?.({ type: 'batch', runId: id, done: run.done, roles: agg.names('role').length });
        },
      });
      Object.assign(run, { status: r.status, message: r.message, stability: r.stability, updatedAt: Date.now() });
      await putRun(db, run);
      return summary(id, r);
    } catch (e) {
      Object.assign(run, { status: 'paused', message: (e as Error).message, updatedAt: Date.now() });
      await putRun(db, run).catch(() => {});
      throw e;
    } finally {
      this.abort = null;
      this.current = null;
    }
  }

  pause(): void {
    this.abort?.abort();
  }

  /** The result of what a run has stored so far (nothing is generated). */
  private async result(id: string): Promise<{ run: ExtractRunInfo; r: ExtractionResult }> {
    const db = await this.open();
    const run = await getRun(db, id);
    if (!run) throw new PersonaSpaceError('no-run', 'That run is not in this browser any more.');
    const m = this.need();
    if (m.info.numLayers !== run.numLayers || m.info.hiddenSize !== run.hiddenSize) {
      throw new PersonaSpaceError('other-model', `That run belongs to ${run.model}; load it to open the run.`);
    }
    const r = await runExtraction({
      settings: run.settings,
      data: this.data(run.dataBase),
      tokenizer: m.tokenizer,
      backend: engineBackend(m.engine),
      store: new IdbRolloutStore(db, id),
      modelName: run.modelName,
      stopIds: m.info.stopIds,
      storedOnly: true,
    });
    return { run, r };
  }

  /** Release layout + .safetensors + calibration.json of a run (finished or not: what is stored). */
  async files(id: string): Promise<ExtractFile[]> {
    const { run, r } = await this.result(id);
    if (r.roles.length + r.traits.length === 0) throw new PersonaSpaceError('empty', 'This run has no finished role yet.');
    return releaseFiles(r, { metadata: { model: run.model } }).map((f) => ({ path: f.path, bytes: f.bytes }));
  }

  /** The run's axis for the chat lab. */
  async axisBundle(id: string): Promise<AxisBundle> {
    const { run, r } = await this.result(id);
    const b = extractionAxisBundle(r, `${run.modelName}, ${run.settings.preset} extraction`);
    if (!b) throw new PersonaSpaceError('no-axis', 'This run has no axis yet: it needs default rollouts and at least one role.');
    return b;
  }
}

function summary(runId: string, r: ExtractionResult): ExtractSummary {
  return { runId, status: r.status, message: r.message, rollouts: r.counts.rollouts, planned: r.counts.planned, resumed: r.counts.resumed, generated: r.counts.generated, stability: r.stability, seconds: r.seconds };
}
