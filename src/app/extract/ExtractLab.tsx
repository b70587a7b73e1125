/**
 * The extraction tab (issue #8): this model's own persona space. Choose a model and a preset, see
 * the rollouts, tokens and estimated time before starting, watch progress and the stability meter,
 * pause and resume (every finished rollout is kept in this browser), and from the list of runs
 * export the release layout, show a run on the map, or delete it.
 */
import { useEffect, useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { loadStageText, progressValue } from '../chat/load-progress';
import { MODEL_CHOICES } from '../chat/models';
import { PRESETS, type PresetName } from '../../core/extract/presets';
import { CREDIT, formCounts, useExtract, type ExtractForm, type PresetChoice } from './store';

/** The presets as core/extract/presets.ts defines them (names, counts), so the labels cannot drift from the runs. */
const presetLabel = (name: PresetName, title: string, note = '') => {
  const p = PRESETS[name];
  return `${title} — ${p.roles.length} roles x ${p.prompts} prompts x ${p.questions} questions${note}`;
};
const PRESET_LABEL: Record<PresetChoice, string> = {
  quick: presetLabel('quick', 'Quick'),
  standard: presetLabel('standard', 'Standard'),
  full: presetLabel('full', 'Full', ' (the paper; for the CLI)'),
  custom: 'Custom',
};

function seconds(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function Num({ label, k, min, max, step = 1 }: { label: string; k: keyof ExtractForm; min: number; max: number; step?: number }) {
  const v = useExtract((s) => s.form[k]) as number;
  const setForm = useExtract((s) => s.setForm);
  return (
    <label className="field">
      {label}
      <input type="number" min={min} max={max} step={step} value={v} data-testid={`extract-${k}`} onChange={(e) => setForm({ [k]: Number(e.target.value) } as Partial<ExtractForm>)} />
    </label>
  );
}

function ModelSection() {
  const { modelId, model, loading, loadStatus, setModelId, loadModel, cancelLoad, running } = useExtract(
    useShallow((s) => ({ modelId: s.modelId, model: s.model, loading: s.loading, loadStatus: s.loadStatus, setModelId: s.setModelId, loadModel: s.loadModel, cancelLoad: s.cancelLoad, running: s.running })),
  );
  // Cancel goes away with the load: keyboard focus moves to Load rather than to the page
  const loadButton = useRef<HTMLButtonElement>(null);
  const refocus = useRef(false);
  useEffect(() => {
    if (loading || !refocus.current) return;
    refocus.current = false;
    loadButton.current?.focus();
  }, [loading]);
  return (
    <fieldset className="panel">
      <legend>Model</legend>
      <select value={modelId} onChange={(e) => setModelId(e.target.value)} data-testid="extract-model" disabled={running || !!loading}>
        <option value="synthetic">Built-in synthetic model (no download)</option>
        {MODEL_CHOICES.map((m) => (
          <option key={m.id} value={m.id}>
            {m.label} ({m.layers} layers x {m.hidden})
          </option>
        ))}
      </select>{' '}
      <button ref={loadButton} onClick={() => void loadModel()} disabled={!!loading || running} data-testid="extract-load">
        Load
      </button>
      {loading && (
        <>
          {' '}
          <button onClick={() => { refocus.current = true; cancelLoad(); }} data-testid="extract-cancel-load">
            Cancel
          </button>
        </>
      )}
      {loading && !loading.stage && <span className="muted"> loading {loading.file}…</span>}
      {loading?.stage && (
        <span className="muted" data-testid="extract-load-stage">
          {' '}{loadStageText(loading)} {loading.total === null ? <progress max={1} /> : <progress max={1} value={progressValue(loading)} />}
        </span>
      )}
      {loadStatus && (
        <span className="muted" role="status" data-testid="extract-load-status">
          {' '}{loadStatus}
        </span>
      )}
      {model && (
        <p data-testid="extract-model-info">
          {model.label}: {model.numLayers} layers x {model.hiddenSize}, on {model.backend}
        </p>
      )}
    </fieldset>
  );
}

function SettingsSection() {
  const { form, setForm, estimate, measure, measuring, model, running } = useExtract(
    useShallow((s) => ({ form: s.form, setForm: s.setForm, estimate: s.estimate, measure: s.measure, measuring: s.measuring, model: s.model, running: s.running })),
  );
  const counts = formCounts(form);
  return (
    <fieldset className="panel" disabled={running}>
      <legend>What to run</legend>
      <select value={form.preset} onChange={(e) => setForm({ preset: e.target.value as PresetChoice })} data-testid="extract-preset">
        {(Object.keys(PRESET_LABEL) as PresetChoice[]).map((p) => (
          <option key={p} value={p}>
            {PRESET_LABEL[p]}
          </option>
        ))}
      </select>
      {form.preset === 'custom' && (
        <div>
          <label className="field">
            Roles
            <input value={form.roles} onChange={(e) => setForm({ roles: e.target.value })} data-testid="extract-roles" size={50} />
          </label>
          <label className="field">
            Traits
            <input value={form.traits} onChange={(e) => setForm({ traits: e.target.value })} data-testid="extract-traits" size={30} />
          </label>
          <Num label="Prompts per role (of 5)" k="prompts" min={1} max={5} />
          <Num label="Questions (of 240)" k="questions" min={1} max={240} />
          <Num label="Default prompts" k="defaultPrompts" min={1} max={5} />
          <Num label="Default questions" k="defaultQuestions" min={1} max={240} />
        </div>
      )}
      <div>
        <Num label="Max new tokens" k="maxNewTokens" min={1} max={512} />
        <Num label="Batch rows" k="batch" min={1} max={32} />
        <Num label="Seed" k="seed" min={0} max={2 ** 31} />
        <Num label="Temperature (0 = greedy)" k="temperature" min={0} max={2} step={0.1} />
        <label className="field">
          <input type="checkbox" checked={form.stopEnabled} onChange={(e) => setForm({ stopEnabled: e.target.checked })} data-testid="extract-stop" /> stop once stability reaches
          <input type="number" min={0.5} max={1} step={0.01} value={form.stopAt} onChange={(e) => setForm({ stopAt: Number(e.target.value) })} />
        </label>
      </div>
      <p data-testid="extract-estimate">
        {counts ? (
          <>
            <b>{counts.rollouts}</b> rollouts ({counts.defaultRollouts} of the default), at most <b>{counts.maxTokens.toLocaleString('en-US')}</b> new tokens · estimated time on this backend:{' '}
            <b data-testid="extract-eta">{estimate ? seconds(estimate.seconds) : '—'}</b>{' '}
          </>
        ) : (
          <span className="error">Check the role and trait names and the numbers.</span>
        )}
        <button onClick={() => void measure()} disabled={!model || measuring || !counts} data-testid="extract-measure">
          {measuring ? 'Measuring…' : 'Measure (short warm-up)'}
        </button>
      </p>
    </fieldset>
  );
}

function Meter({ value, threshold }: { value: number | null; threshold: number | null }) {
  const pct = value === null ? 0 : Math.max(0, Math.min(1, value)) * 100;
  return (
    <div className="meter" title="Split-half cosine of the axis at the middle layer">
      Stability <b data-testid="extract-stability">{value === null ? '—' : value.toFixed(3)}</b>
      <div style={{ background: '#eee', height: 8, width: 200, position: 'relative', display: 'inline-block', marginLeft: 8 }}>
        <div style={{ background: value !== null && threshold !== null && value >= threshold ? '#2e7d32' : '#1f5fa8', height: 8, width: `${pct}%` }} />
        {threshold !== null && <div style={{ position: 'absolute', left: `${threshold * 100}%`, top: -2, height: 12, width: 2, background: '#c0392b' }} />}
      </div>
    </div>
  );
}

function LiveMapToggle() {
  const { liveMap, liveRoles, running } = useExtract(useShallow((s) => ({ liveMap: s.liveMap, liveRoles: s.liveRoles, running: s.running })));
  return (
    <label className="check" style={{ marginLeft: 12 }}>
      <input type="checkbox" checked={liveMap} data-testid="extract-live-map" onChange={(e) => useExtract.getState().setLiveMap(e.target.checked)} />
      Grow the explorer&apos;s map as roles finish
      {running && liveMap && <span className="muted" data-testid="extract-live-roles" data-roles={liveRoles}> ({liveRoles ? `${liveRoles} role${liveRoles === 1 ? '' : 's'} on the map` : 'none finished yet'})</span>}
    </label>
  );
}

function RunSection() {
  const { running, progress, start, pause, model, summary, form, notice } = useExtract(
    useShallow((s) => ({ running: s.running, progress: s.progress, start: s.start, pause: s.pause, model: s.model, summary: s.summary, form: s.form, notice: s.notice })),
  );
  const pct = progress && progress.total ? (progress.done / progress.total) * 100 : 0;
  return (
    <fieldset className="panel">
      <legend>Run</legend>
      <button onClick={() => void start()} disabled={!model || running} data-testid="extract-start">
        Start / resume
      </button>{' '}
      <button onClick={pause} disabled={!running} data-testid="extract-pause">
        Pause
      </button>
      <LiveMapToggle />
      {progress && (
        <div data-testid="extract-progress">
          <progress max={100} value={pct} /> {progress.done} / {progress.total} rollouts{progress.resumed ? ` (${progress.resumed} kept from before)` : ''} · {progress.rate.toFixed(2)} rollouts/s · {progress.membersDone}/{progress.membersTotal} members done
          <Meter value={progress.stability} threshold={form.stopEnabled ? form.stopAt : null} />
        </div>
      )}
      {summary && (
        <p data-testid="extract-summary">
          {summary.status === 'complete' ? `Done: ${summary.rollouts} rollouts (${summary.generated} new) in ${seconds(summary.seconds)}.` : notice}
        </p>
      )}
    </fieldset>
  );
}

function RunsSection() {
  const { runs, refreshRuns, resumeRun, deleteRun, exportRun, showOnMap, sendToChat, running } = useExtract(
    useShallow((s) => ({ runs: s.runs, refreshRuns: s.refreshRuns, resumeRun: s.resumeRun, deleteRun: s.deleteRun, exportRun: s.exportRun, showOnMap: s.showOnMap, sendToChat: s.sendToChat, running: s.running })),
  );
  return (
    <fieldset className="panel">
      <legend>Runs in this browser</legend>
      <button onClick={() => void refreshRuns()}>Refresh</button>
      {runs.length === 0 ? (
        <p className="muted">No runs yet.</p>
      ) : (
        <table data-testid="extract-runs">
          <thead>
            <tr>
              <th>Model</th>
              <th>Preset</th>
              <th>Status</th>
              <th>Rollouts</th>
              <th>Stability</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id} data-testid="extract-run">
                <td>{r.model}</td>
                <td>{r.settings.preset} ({r.settings.roles.length} roles{r.settings.traits.length ? `, ${r.settings.traits.length} traits` : ''})</td>
                <td>{r.status}</td>
                <td>
                  {r.done} / {r.total}
                </td>
                <td>{r.stability === null ? '—' : r.stability.toFixed(3)}</td>
                <td>
                  {r.status !== 'complete' && (
                    <button onClick={() => void resumeRun(r)} disabled={running}>
                      Resume
                    </button>
                  )}
                  <button onClick={() => void showOnMap(r.id)} disabled={running} data-testid="extract-show-map">
                    Show on map
                  </button>
                  <button onClick={() => void sendToChat(r.id)} disabled={running} data-testid="extract-use-chat">
                    Use axis in chat lab
                  </button>
                  <button onClick={() => void exportRun(r.id)} disabled={running} data-testid="extract-export">
                    Export release layout
                  </button>
                  <button onClick={() => void deleteRun(r.id)} disabled={running} data-testid="extract-delete">
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </fieldset>
  );
}

export function ExtractLab() {
  const error = useExtract((s) => s.error);
  useEffect(() => {
    void useExtract.getState().refreshRuns();
  }, []);
  return (
    <section data-testid="extract-lab" className="lab">
      <h2>Your model’s persona space</h2>
      <p className="muted">
        The model plays each role (the paper’s system prompts and questions); the mean of its residual stream over its own answers, at every layer, is the role’s vector; the Assistant Axis is the
        default minus the mean of the roles. Every finished rollout is kept in this browser, so a closed tab loses at most one batch.
      </p>
      <ModelSection />
      <SettingsSection />
      <RunSection />
      {error && (
        <p className="error" role="alert" data-testid="extract-error">
          {error}
        </p>
      )}
      <RunsSection />
      <p className="muted small">{CREDIT}.</p>
    </section>
  );
}
