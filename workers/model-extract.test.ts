import 'fake-indexeddb/auto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_PAPER_DATA, localPaperDataOptions, tinyModel, type TinyModel } from '../src/core/extract/extract.testkit';
import { normalizeSettings, type ExtractSettings } from '../src/core/extract/presets';
import { loadPersonaSet } from '../src/core/persona/load';
import { readPt } from '../src/core/formats/pt';
import { PyDict } from '../src/core/formats/py';
import { ExtractFeature, runIdOf } from './model-extract';
import type { ExtractEvent } from './extract-protocol';

const settings = (): ExtractSettings =>
  normalizeSettings({ roles: ['pirate', 'ghost'], traits: [], prompts: 1, questions: 2, defaultPrompts: 2, defaultQuestions: 1, maxNewTokens: 3, batch: 2, seed: 1, temperature: 0.7, topP: 0.9, stopAt: null, preset: 'custom' });

describe.skipIf(!HAVE_PAPER_DATA)('the model worker’s extraction feature (IndexedDB store; needs ../shared)', () => {
  let m: TinyModel;
  let f: ExtractFeature;
  beforeAll(async () => {
    m = await tinyModel(3);
    const info = { label: 'synthetic', numLayers: m.config.numLayers, hiddenSize: m.config.hiddenSize, stopIds: m.stopIds };
    f = new ExtractFeature(() => ({ engine: m.engine, tokenizer: m.tokenizer, info }), localPaperDataOptions());
  });
  afterAll(() => m?.engine.dispose());

  it('pauses with its rollouts kept, lists the run, resumes without regenerating, exports the release layout, deletes', async () => {
    const events: ExtractEvent[] = [];
    const first = await f.start(settings(), 'Tiny', (e) => {
      events.push(e);
      if (e.type === 'batch' && e.done >= 4) f.pause();
    });
    expect(first.status).toBe('paused');
    expect(first.rollouts).toBe(4);
    expect(events.some((e) => e.type === 'progress' && e.progress.total === 6)).toBe(true);
    let runs = await f.runs();
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: first.runId, status: 'paused', done: 4, total: 6, model: 'synthetic' });
    expect(first.runId).toBe(runIdOf('synthetic', m.config.numLayers, m.config.hiddenSize, settings()));
    // A paused run's files hold what is finished so far.
    const partial = await f.files(first.runId);
    expect(partial.some((x) => x.path === 'default_vector.pt')).toBe(true);

    const second = await f.start(settings(), 'Tiny');
    expect(second).toMatchObject({ status: 'complete', resumed: 4, generated: 2, rollouts: 6 });
    runs = await f.runs();
    expect(runs[0].status).toBe('complete');

    const files = await f.files(second.runId);
    const paths = files.map((x) => x.path).sort();
    expect(paths).toEqual(['assistant_axis.pt', 'calibration.json', 'default_vector.pt', 'persona_space.safetensors', 'role_vectors/ghost.pt', 'role_vectors/pirate.pt']);
    const set = await loadPersonaSet(files.map((x) => ({ path: x.path, read: async () => x.bytes })));
    expect(set.format).toBe('release');
    expect([...set.names]).toEqual(['ghost', 'pirate']);
    expect(set.layers).toBe(m.config.numLayers);
    const ghost = readPt(files.find((x) => x.path === 'role_vectors/ghost.pt')!.bytes) as PyDict;
    expect(ghost.get('type')).toBe('mean');
    const bundle = await f.axisBundle(second.runId);
    expect(bundle.source).toBe('extraction');
    expect(bundle.axis.length).toBe(m.config.numLayers * m.config.hiddenSize);
    expect(bundle.calibration!.basis).toBe('rollouts');

    // The same vectors as an uninterrupted run of the same settings (seeded per rollout).
    const other = new ExtractFeature(() => ({ engine: m.engine, tokenizer: m.tokenizer, info: { label: 'synthetic-2', numLayers: m.config.numLayers, hiddenSize: m.config.hiddenSize, stopIds: m.stopIds } }), localPaperDataOptions());
    const whole = await other.start(settings(), 'Tiny');
    const wf = await other.files(whole.runId);
    const vec = (fs: typeof files, p: string) => Array.from(new Float32Array(((readPt(fs.find((x) => x.path === p)!.bytes) as PyDict).get('vector') as { data: Uint8Array }).data.slice().buffer));
    expect(vec(files, 'role_vectors/pirate.pt')).toEqual(vec(wf, 'role_vectors/pirate.pt'));

    await f.remove(second.runId);
    expect((await f.runs()).map((r) => r.id)).not.toContain(second.runId);
    await expect(f.files(second.runId)).rejects.toThrow(/not in this browser/);
  });
});
