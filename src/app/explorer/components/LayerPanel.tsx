/** Layer slider (several layers only), the numbers of this layer, the per-layer chart and the scree. */
import { useRef } from 'react';
import { format3, formatCoord, formatPercent } from '../../../core/view/format';
import { ChartFrame } from '../../charts/ChartFrame';
import { exportChart } from '../../charts/export-utils';
import { LayerChart } from '../charts/LayerChart';
import { Scree } from '../charts/Scree';
import { useStore } from '../store';

export function LayerSlider() {
  const setA = useStore((s) => s.setA);
  const layer = useStore((s) => s.layer);
  const setLayer = useStore((s) => s.setLayer);
  const analysing = useStore((s) => s.analysing);
  if (!setA || setA.layers === null || setA.layers < 2) return null;
  return (
    <div className="layer-slider">
      <label htmlFor="layer-slider">Layer</label>
      <input id="layer-slider" type="range" min={0} max={setA.layers - 1} step={1} value={layer} data-testid="layer-slider"
        onChange={(e) => void setLayer(Number(e.target.value))} aria-valuetext={`layer ${layer} of ${setA.layers}`} />
      <output data-testid="layer-value" htmlFor="layer-slider">{layer}</output>
      <span className="muted small-text">of 0–{setA.layers - 1} · resid_post{analysing ? ' · computing…' : ''}</span>
    </div>
  );
}

export function LayerStats() {
  const a = useStore((s) => s.analysis);
  const setA = useStore((s) => s.setA);
  if (!a) return null;
  return (
    <div className="stats" aria-label="Numbers of this layer">
      <div className="stat"><span className="stat-label">cos(axis, PC1)</span><span className="stat-value" data-testid="cos-axis-pc1">{a.cosAxisPc.length ? format3(a.cosAxisPc[0]) : '–'}</span></div>
      <div className="stat"><span className="stat-label">|axis|</span><span className="stat-value">{a.axisNorm === null ? '–' : formatCoord(a.axisNorm)}</span></div>
      <div className="stat"><span className="stat-label">PC1 explains</span><span className="stat-value">{a.explained.length ? formatPercent(a.explained[0]) : '–'}</span></div>
      <div className="stat"><span className="stat-label">layer</span><span className="stat-value">{setA?.layers === null ? '—' : a.layer}</span></div>
    </div>
  );
}

export function LayerCharts() {
  const a = useStore((s) => s.analysis);
  const setA = useStore((s) => s.setA);
  const profile = useStore((s) => s.profile);
  const progress = useStore((s) => s.profileProgress);
  const layer = useStore((s) => s.layer);
  const setLayer = useStore((s) => s.setLayer);
  const screeRef = useRef<SVGSVGElement>(null);
  const layersRef = useRef<SVGSVGElement>(null);
  if (!a) return null;
  return (
    <>
      <ChartFrame name="scree" testId="scree" title="Scree: variance per component" onExport={(k) => void exportChart(screeRef.current, setA?.layers == null ? 'scree' : `scree-layer${a.layer}`, k)}
        subtitle={`${setA?.layers == null ? 'Single layer' : `Layer ${a.layer}`}; the first ${a.k} components explain ${formatPercent(a.explained.reduce((s, v) => s + v, 0))} together.`}>
        <Scree ref={screeRef} explained={a.explained} />
      </ChartFrame>
      {(profile || progress) && (
        <ChartFrame name="layers" testId="layer-chart" title="The axis across layers" onExport={(k) => void exportChart(layersRef.current, 'layers', k)}
          subtitle="How well PC1 lines up with the Assistant Axis at each layer, and the axis length. Click to pick a layer.">
          {profile ? <LayerChart ref={layersRef} profile={profile} layer={layer} onPick={(l) => void setLayer(l)} />
            : <p className="muted">Computing every layer… {progress?.done}/{progress?.total}</p>}
        </ChartFrame>
      )}
    </>
  );
}
