/**
 * The drift lane: one point per assistant turn per pane (the mean of resid_post at the monitored
 * layer over the answer's content tokens, on the unit axis), reference lines for the role centroid,
 * the default Assistant and the cap threshold; hover for the turn, value and snippet; click to
 * scroll every pane to that turn. Toggles: as generated / as read by the unmodified model; raw /
 * relative to the role centroid. Enlarge and PNG/SVG export through the app's ChartFrame.
 */
import { scaleLinear } from 'd3';
import { useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { ChartFrame } from '../charts/ChartFrame';
import { exportChart } from '../charts/export-utils';
import { PANES, PANE_COLOR, PANE_LABEL, type PaneId } from './api';
import { useChat } from './store';

export interface LanePoint { pane: PaneId; turn: number; value: number; snippet: string }

const W = 760, H = 300;
const M = { top: 28, right: 150, bottom: 40, left: 64 };

export function DriftLane() {
  const s = useChat(useShallow((st) => ({
    turns: st.turns, mode: st.driftMode, relative: st.relative, layer: st.settings?.monitorLayer ?? 0, nLayers: st.axis.summary?.numLayers ?? 0,
    roleMean: st.axis.summary?.roleMean ?? null, def: st.axis.summary?.defaultProjection ?? null,
    capLayers: st.settings?.panes.capped.cap?.layers ?? null, capTau: st.resolved?.panes.capped.capTau ?? null,
    hidden: st.settings?.panes ?? null,
  })));
  const a = useChat.getState();
  const svgRef = useRef<SVGSVGElement>(null);
  const [hover, setHover] = useState<LanePoint | null>(null);
  const L = s.layer;
  const offset = s.relative && s.roleMean ? s.roleMean[L] : 0;
  const points = useMemo<LanePoint[]>(() => s.turns.flatMap((t) => {
    if (s.hidden?.[t.pane].hidden) return [];
    const v = (s.mode === 'read' ? t.read : t.generated)?.[L];
    return v === undefined || v === null || !Number.isFinite(v) ? [] : [{ pane: t.pane, turn: t.turn, value: v - offset, snippet: t.snippet }];
  }), [s.turns, s.mode, L, offset, s.hidden]);
  const capped = !!s.capLayers?.includes(L);
  const refs: { label: string; value: number; color: string; dash?: string }[] = [];
  if (s.roleMean) refs.push({ label: 'role centroid', value: s.roleMean[L] - offset, color: '#c26b00', dash: '6 4' });
  if (s.def) refs.push({ label: 'default Assistant', value: s.def[L] - offset, color: '#4b2a85' });
  if (capped && s.capTau?.[L] !== null && s.capTau?.[L] !== undefined) refs.push({ label: 'cap threshold τ', value: (s.capTau[L] as number) - offset, color: PANE_COLOR.capped, dash: '2 3' });

  const maxTurn = Math.max(1, ...points.map((p) => p.turn + 1));
  const vals = [...points.map((p) => p.value), ...refs.map((r) => r.value)];
  let lo = vals.length ? Math.min(...vals) : -1, hi = vals.length ? Math.max(...vals) : 1;
  if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.12;
  const x = scaleLinear().domain([maxTurn > 1 ? 1 : 0.5, maxTurn > 1 ? maxTurn : 1.5]).range([M.left, W - M.right]);
  const y = scaleLinear().domain([lo - pad, hi + pad]).range([H - M.bottom, M.top]).nice();
  const xt = x.ticks(Math.min(maxTurn, 10)).filter((t) => Number.isInteger(t));
  const yt = y.ticks(5);
  const yLabel = s.relative && s.roleMean ? 'projection − role centroid' : 'raw projection h·â';

  return (
    <ChartFrame name="drift" testId="drift-lane" title="Drift · Role-play ◀ ▶ Assistant" onExport={(k) => void exportChart(svgRef.current, `drift-layer${L}`, k)}
      subtitle={<>One point per assistant turn: mean of resid_post[{L}] over the answer's content tokens, on the unit axis · {s.relative && s.roleMean ? 'relative to the role centroid' : 'raw projections (not centred)'} · {s.mode === 'read' ? 'as read by the unmodified model (teacher-forced through the Default row)' : 'as generated'}</>}>
      <div className="chat-lane-controls">
        <div role="group" aria-label="Which values" className="seg">
          <button type="button" className={s.mode === 'generated' ? 'active' : ''} aria-pressed={s.mode === 'generated'} data-testid="drift-generated" onClick={() => a.setDriftMode('generated')}>As generated</button>
          <button type="button" className={s.mode === 'read' ? 'active' : ''} aria-pressed={s.mode === 'read'} data-testid="drift-read" onClick={() => a.setDriftMode('read')}>As read by the unmodified model</button>
        </div>
        <label className="check"><input type="checkbox" data-testid="drift-relative" checked={s.relative} disabled={!s.roleMean} onChange={(e) => a.setRelative(e.target.checked)} /> relative to the role centroid</label>
        {s.nLayers > 0 && (
          <label className="field inline">Monitored layer <strong data-testid="drift-layer">{L}</strong>
            <input type="range" min={0} max={s.nLayers - 1} value={L} data-testid="drift-layer-slider" aria-label="Monitored layer" onChange={(e) => a.updateSettings({ monitorLayer: Number(e.target.value) })} />
          </label>
        )}
      </div>
      {capped && <p className="notice small-text" data-testid="drift-cap-note">Layer {L} is inside the cap window: as generated, the Capped pane cannot fall below τ here by construction. "As read by the unmodified model" shows where its text sits without the cap.</p>}
      <div className="chat-lane-box">
        <svg ref={svgRef} viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label="Drift per assistant turn" fontFamily="system-ui, sans-serif" data-testid="drift-svg" data-points={points.length}>
          <rect width={W} height={H} fill="#ffffff" />
          {yt.map((t) => (
            <g key={t}>
              <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} stroke="#eeeae2" />
              <text x={M.left - 8} y={y(t) + 4} fontSize="14" textAnchor="end" fill="#555">{Math.abs(t) >= 100 ? t.toFixed(0) : +t.toPrecision(3)}</text>
            </g>
          ))}
          {xt.map((t) => <text key={t} x={x(t)} y={H - M.bottom + 20} fontSize="14" textAnchor="middle" fill="#333">{t}</text>)}
          <text x={(M.left + W - M.right) / 2} y={H - 4} fontSize="14" textAnchor="middle" fill="#555">assistant turn</text>
          <text transform={`translate(16, ${(M.top + H - M.bottom) / 2}) rotate(-90)`} fontSize="14" textAnchor="middle" fill="#555">{yLabel} · layer {L}</text>
          <text x={W - M.right + 8} y={M.top - 10} fontSize="13" fill="#4b2a85">▲ Assistant</text>
          <text x={W - M.right + 8} y={H - M.bottom + 16} fontSize="13" fill="#c26b00">▼ role-play</text>
          {refs.map((r) => (
            <g key={r.label} data-testid="drift-ref" data-label={r.label} data-value={r.value}>
              <line x1={M.left} x2={W - M.right} y1={y(r.value)} y2={y(r.value)} stroke={r.color} strokeWidth="2" strokeDasharray={r.dash} />
              <text x={W - M.right + 8} y={y(r.value) + 4} fontSize="13" fill={r.color}>{r.label}</text>
            </g>
          ))}
          {PANES.map((pane) => {
            const ps = points.filter((p) => p.pane === pane).sort((p, q) => p.turn - q.turn);
            if (ps.length === 0) return null;
            return (
              <g key={pane} data-testid={`drift-line-${pane}`}>
                <polyline fill="none" stroke={PANE_COLOR[pane]} strokeWidth="3" points={ps.map((p) => `${x(p.turn + 1)},${y(p.value)}`).join(' ')} />
                <circle cx={x(ps[0].turn + 1)} cy={y(ps[0].value)} r="10" fill="none" stroke={PANE_COLOR[pane]} strokeWidth="2" data-testid="drift-start"><title>start</title></circle>
                {ps.map((p) => (
                  <circle key={p.turn} cx={x(p.turn + 1)} cy={y(p.value)} r="6" fill={PANE_COLOR[pane]} stroke="#fff" strokeWidth="1.5" tabIndex={0} role="button"
                    data-testid="drift-point" data-pane={pane} data-turn={p.turn} data-value={p.value} style={{ cursor: 'pointer' }}
                    aria-label={`${PANE_LABEL[pane]}, turn ${p.turn + 1}: ${p.value.toFixed(3)}. Press Enter to show this turn.`}
                    onMouseEnter={() => setHover(p)} onMouseLeave={() => setHover(null)} onFocus={() => setHover(p)} onBlur={() => setHover(null)}
                    onClick={() => a.focusTurn(p.turn)} onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); a.focusTurn(p.turn); } }} />
                ))}
              </g>
            );
          })}
          <g transform={`translate(${M.left + 6}, ${M.top - 10})`} fontSize="13">
            {PANES.filter((p) => points.some((q) => q.pane === p)).map((p, i) => (
              <g key={p} transform={`translate(${i * 110}, 0)`}>
                <line x1="0" x2="18" y1="-4" y2="-4" stroke={PANE_COLOR[p]} strokeWidth="3" />
                <text x="24" y="0" fill="#222">{PANE_LABEL[p]}</text>
              </g>
            ))}
          </g>
          {points.length === 0 && <text x={(M.left + W - M.right) / 2} y={H / 2} fontSize="15" textAnchor="middle" fill="#777">Send a message: each answer adds a point.</text>}
        </svg>
        {hover && (
          <div className="chat-lane-tip" data-testid="drift-tooltip" role="tooltip" style={{ left: `${(x(hover.turn + 1) / W) * 100}%`, top: `${(y(hover.value) / H) * 100}%` }}>
            <strong style={{ color: PANE_COLOR[hover.pane] }}>{PANE_LABEL[hover.pane]}</strong> · turn {hover.turn + 1} · <span data-testid="drift-tooltip-value">{hover.value.toFixed(3)}</span>
            <div className="small-text">{hover.snippet}</div>
          </div>
        )}
      </div>
    </ChartFrame>
  );
}
