/** Steering, capping, sampling and the system prompt. Each control selects only its own settings. */
import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { CapSettings, SteerSettings } from './api';
import { useChat } from './store';

/** "12-16", "3,5,7", "14" -> layers (sorted, unique, within [0, n)); null when malformed. */
export function parseLayers(text: string, n: number): number[] | null {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:\s*[-–]\s*(\d+))?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    if (a > b || b >= n) return null;
    for (let l = a; l <= b; l++) out.add(l);
  }
  return out.size ? [...out].sort((x, y) => x - y) : null;
}

export function formatLayers(layers: readonly number[]): string {
  if (layers.length === 0) return '';
  const runs: string[] = [];
  let s = layers[0], p = layers[0];
  for (let i = 1; i <= layers.length; i++) {
    const l = layers[i];
    if (l === p + 1) { p = l; continue; }
    runs.push(s === p ? `${s}` : `${s}-${p}`);
    s = p = l;
  }
  return runs.join(',');
}

function LayersField({ value, n, onChange, testId, label }: { value: number[]; n: number; onChange(l: number[]): void; testId: string; label: string }) {
  const [text, setText] = useState(formatLayers(value));
  const [bad, setBad] = useState(false);
  useEffect(() => { setText(formatLayers(value)); setBad(false); }, [value]);
  return (
    <label className="field inline">
      {label}
      <input type="text" data-testid={testId} value={text} size={8} aria-invalid={bad}
        onChange={(e) => setText(e.target.value)}
        onBlur={() => { const l = parseLayers(text, n); if (l) onChange(l); else setBad(true); }}
        onKeyDown={(e) => { if (e.key === 'Enter') (e.target as HTMLInputElement).blur(); }} />
      {bad && <span className="error small-text">layers 0–{n - 1}, e.g. 12 or 10-14</span>}
    </label>
  );
}

const fmt = (x: number | null | undefined, d = 3) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(d));

export function SteerControls() {
  const s = useChat(useShallow((st) => ({
    steer: st.settings?.panes.steered.steer ?? null,
    layers: st.axis.summary?.numLayers ?? 0,
    hasSd: !!st.axis.summary?.roleSd,
    resolved: st.resolved?.panes.steered ?? null,
  })));
  const update = useChat((st) => st.updateSettings);
  if (!s.layers) return null;
  const steer: SteerSettings = s.steer ?? { layers: [Math.floor(s.layers / 2)], amount: 0, unit: s.hasSd ? 'sd' : 'raw' };
  const put = (p: Partial<SteerSettings>) => update({ panes: { steered: { steer: { ...steer, ...p } } } });
  const unit = steer.unit === 'sd' && !s.hasSd ? 'raw' : steer.unit;
  const max = unit === 'sd' ? 10 : 20;
  const first = steer.layers[0] ?? 0;
  return (
    <div className="chat-controls" data-testid="chat-steer">
      <LayersField label="Layers" value={steer.layers} n={s.layers} testId="chat-steer-layers" onChange={(layers) => put({ layers })} />
      <label className="field">
        <span>Amount: <strong data-testid="chat-steer-amount">{steer.amount > 0 ? '+' : ''}{steer.amount.toFixed(2)}</strong> {unit === 'sd' ? 'sd of the role projections' : 'raw coefficient c'}</span>
        <input type="range" min={-max} max={max} step={unit === 'sd' ? 0.25 : 0.5} value={steer.amount} data-testid="chat-steer-slider"
          aria-label="Steering amount (negative: toward role-play)" onChange={(e) => put({ amount: Number(e.target.value), unit })} />
        <span className="chat-range-ends small-text"><span>◀ role-play</span><span>0</span><span>Assistant ▶</span></span>
      </label>
      <div className="small-text muted" data-testid="chat-steer-raw">
        At layer {first}: raw coefficient c = {fmt(s.resolved?.steerRaw[first])} · adds {fmt(s.resolved?.steerAlpha[first])} along the unit axis
        {!s.hasSd && ' · this axis has no role statistics, so the slider is the raw coefficient'}
      </div>
      <button type="button" className="small" data-testid="chat-steer-zero" onClick={() => put({ amount: 0 })}>Zero</button>
      <span className="muted small-text"> Takes effect at the next token.</span>
    </div>
  );
}

export function CapControls() {
  const s = useChat(useShallow((st) => ({
    cap: st.settings?.panes.capped.cap ?? null,
    layers: st.axis.summary?.numLayers ?? 0,
    window: st.axis.summary?.defaultCapWindow ?? [],
    hasCal: !!st.axis.summary?.hasCalibration,
    resolved: st.resolved?.panes.capped ?? null,
    clamped: st.panes.capped.clampedTotal,
  })));
  const update = useChat((st) => st.updateSettings);
  const [last, setLast] = useState<CapSettings | null>(null);
  if (!s.layers) return null;
  const fallback: CapSettings = last ?? { layers: s.window, threshold: s.hasCal ? { kind: 'percentile', p: 25 } : { kind: 'fixed', tau: 0 } };
  const cap = s.cap;
  const put = (c: CapSettings | null) => { if (c) setLast(c); update({ panes: { capped: { cap: c } } }); };
  const cur = cap ?? fallback;
  const taus = cur.layers.map((l) => s.resolved?.capTau[l]).filter((t): t is number => typeof t === 'number');
  return (
    <div className="chat-controls" data-testid="chat-cap">
      <label className="check">
        <input type="checkbox" data-testid="chat-cap-on" checked={cap !== null} onChange={(e) => put(e.target.checked ? cur : null)} />
        Cap the Capped pane (a floor along the Assistant direction)
      </label>
      <LayersField label="Window" value={cur.layers} n={s.layers} testId="chat-cap-layers" onChange={(layers) => put({ ...cur, layers })} />
      <div className="chat-radio" role="radiogroup" aria-label="Threshold">
        <label className="check"><input type="radio" name="cap-kind" data-testid="chat-cap-percentile" disabled={!s.hasCal} checked={cur.threshold.kind === 'percentile'}
          onChange={() => put({ ...cur, threshold: { kind: 'percentile', p: 25 } })} /> calibration percentile{!s.hasCal && ' (this axis has no calibration)'}</label>
        <label className="check"><input type="radio" name="cap-kind" data-testid="chat-cap-fixed" checked={cur.threshold.kind === 'fixed'}
          onChange={() => put({ ...cur, threshold: { kind: 'fixed', tau: taus[0] ?? 0 } })} /> fixed</label>
      </div>
      {cur.threshold.kind === 'percentile' ? (
        <label className="field">
          <span>p{cur.threshold.p} of the rollout projections at each layer</span>
          <input type="range" min={1} max={99} step={1} value={cur.threshold.p} data-testid="chat-cap-p" onChange={(e) => put({ ...cur, threshold: { kind: 'percentile', p: Number(e.target.value) } })} />
        </label>
      ) : (
        <label className="field inline">
          τ <input type="number" step="any" data-testid="chat-cap-tau" value={cur.threshold.tau} onChange={(e) => { const v = Number(e.target.value); if (Number.isFinite(v)) put({ ...cur, threshold: { kind: 'fixed', tau: v } }); }} />
        </label>
      )}
      <div className="small-text muted">τ per layer: {taus.length ? taus.map((t) => fmt(t)).join(', ') : '—'}</div>
      <div className="chat-clamped" data-testid="chat-clamped" data-count={s.clamped} aria-live="polite">
        <strong>{s.clamped.toLocaleString('en-US')}</strong> (layer, token) positions clamped
      </div>
    </div>
  );
}

export function SamplingControls() {
  const sm = useChat((st) => st.settings?.sampling ?? null);
  const update = useChat((st) => st.updateSettings);
  if (!sm) return null;
  const numField = (key: keyof typeof sm, label: string, props: { min: number; max: number; step: number }) => (
    <label className="field inline">
      {label}
      <input type="number" data-testid={`chat-${key}`} value={sm[key]} {...props}
        onChange={(e) => { const v = Number(e.target.value); if (Number.isFinite(v) && v >= props.min && v <= props.max) update({ sampling: { [key]: v } }); }} />
    </label>
  );
  return (
    <div className="chat-controls chat-sampling" data-testid="chat-sampling">
      {numField('temperature', 'Temperature', { min: 0, max: 2, step: 0.05 })}
      {numField('topP', 'Top-p', { min: 0.01, max: 1, step: 0.01 })}
      {numField('maxTokens', 'Max tokens', { min: 1, max: 2048, step: 1 })}
      {numField('seed', 'Seed', { min: 0, max: 2 ** 31 - 1, step: 1 })}
      <p className="muted small-text">Every pane samples with the same seed; temperature 0 is greedy. The paper used 0.7 and top-p 0.9.</p>
    </div>
  );
}

export function SystemPrompt() {
  const system = useChat((st) => st.settings?.system ?? '');
  const update = useChat((st) => st.updateSettings);
  const [text, setText] = useState(system);
  useEffect(() => setText(system), [system]);
  return (
    <label className="field chat-system">
      <span>System prompt <span className="muted small-text">(empty = no system message; applies from the next message)</span></span>
      <textarea rows={2} data-testid="chat-system" value={text} placeholder="e.g. You are a pirate." onChange={(e) => setText(e.target.value)} onBlur={() => { if (text !== system) update({ system: text }); }} />
    </label>
  );
}
