/**
 * "Load as axis": an axis file (the release's assistant_axis.pt, a contrast vector; (n_layers, d)
 * or (d,)) beside the open set. The panel says what the file is, ranks the set's members by their
 * projection on it at the current layer (labelled with the file's name), and hands it to the chat
 * lab; `AxisFileCosChart` draws its cosine with the set's own axis per layer. Drop a file on the
 * panel to load it as an axis.
 */
import { forwardRef, useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { digitsToSeparate, format3, formatCoord } from '../../../core/view/format';
import { ChartFrame } from '../../charts/ChartFrame';
import { exportChart } from '../../charts/export-utils';
import { useStore } from '../store';
import { filesFromList } from '../components/files';
import { useAxisFile } from './axis-store';

/** Above this many members only both ends of the ranking are listed. */
const LIST_ALL_UP_TO = 600;
const END_ROWS = 100;

function shapeText(layers: number | null, dim: number): string {
  return layers === null ? `(${dim},) one direction for every layer` : `${layers} layers × ${dim}`;
}

export function AxisFilePanel() {
  const s = useAxisFile(useShallow((st) => ({ file: st.file?.info ?? null, busy: st.busy, error: st.error, projectionError: st.projectionError, chatNote: st.chatNote })));
  const act = useAxisFile.getState();
  const [url, setUrl] = useState('');
  return (
    <div className="axis-file-panel" data-testid="axis-file-panel"
      onDragOver={(e) => { if (e.dataTransfer.types.includes('Files')) e.preventDefault(); }}>
      <div className="load-row wrap">
        <label className={`button ${s.busy ? 'disabled' : ''}`}>
          Load as axis…
          <input type="file" accept=".pt,.pth,.bin,.npy,.npz,.safetensors" data-testid="axis-file-input" className="visually-hidden" disabled={s.busy}
            onChange={(e) => { const f = filesFromList(e.currentTarget.files); e.currentTarget.value = ''; void act.loadFiles(f); }} />
        </label>
        {s.file && <button type="button" className="small" data-testid="axis-file-to-chat" onClick={() => void act.toChatLab()} title="Steer and cap with this axis in the chat lab">Use in chat lab</button>}
        {s.file && <button type="button" className="small" data-testid="axis-file-remove" onClick={() => act.clear()}>Remove</button>}
      </div>
      <form className="load-row url-row" onSubmit={(e) => { e.preventDefault(); void act.loadUrl(url); }}>
        <label className="visually-hidden" htmlFor="axis-file-url">URL of an axis file</label>
        <input id="axis-file-url" type="url" inputMode="url" placeholder="or its URL: https://…/assistant_axis.pt" value={url}
          data-testid="axis-file-url" onChange={(e) => setUrl(e.target.value)} />
        <button type="submit" className="small" data-testid="axis-file-url-load" disabled={s.busy}>Load URL as axis</button>
      </form>
      <p className="muted small-text">One unnamed (n_layers, d) or (d,) tensor: the release's <code>assistant_axis.pt</code>, a contrast vector (.pt, .npy, .safetensors). Drop it here, or give its URL (a file on the hub or anywhere).</p>
      {s.busy && <p role="status">Reading the axis…</p>}
      {s.error && <p className="error" role="alert" data-testid="axis-file-error">{s.error}</p>}
      {s.file && (
        <p data-testid="axis-file-info">
          <strong>{s.file.name}</strong>
          <span className="muted small-text"> · {s.file.format} · {shapeText(s.file.layers, s.file.dim)} · {s.file.dtype}</span>
        </p>
      )}
      {s.file && s.projectionError && <p className="error" role="alert" data-testid="axis-file-projection-error">{s.projectionError}</p>}
      {s.file && !s.projectionError && <AxisFileRanking />}
      {s.chatNote && <p className="muted small-text" role="status" data-testid="axis-file-chat-note">{s.chatNote}</p>}
    </div>
  );
}

function RowPicker() {
  const { file, row, proj } = useAxisFile(useShallow((st) => ({ file: st.file?.info ?? null, row: st.axisRow, proj: st.projection })));
  const single = useStore((st) => st.setA?.layers === null);
  if (!file || file.layers === null || !single || !proj) return null;
  return (
    <label className="field small-text">
      Layer of the file to use (this set has one layer)
      <input type="number" min={0} max={file.layers - 1} step={1} data-testid="axis-file-row" value={row ?? proj.axisRow}
        onChange={(e) => { const v = Number(e.target.value); if (Number.isInteger(v) && v >= 0 && v < file.layers!) void useAxisFile.getState().setAxisRow(v); }} />
    </label>
  );
}

export function AxisFileRanking() {
  const { p, name, fileLayers } = useAxisFile(useShallow((st) => ({ p: st.projection, name: st.file?.info.name ?? '', fileLayers: st.file?.info.layers ?? null })));
  const multi = useStore((st) => st.setA?.layers != null);
  const selection = useStore((st) => st.selection);
  const onToggle = useStore((st) => st.toggleSelected);
  const onHover = useStore((st) => st.setHovered);
  const sel = new Set(selection);
  const order = useMemo(() => (p ? Array.from(p.rank.keys()).sort((x, y) => p.rank[x] - p.rank[y]) : []), [p]);
  const sig = useMemo(() => (p ? digitsToSeparate(p.projection) : 4), [p]);
  if (!p) return null;
  const rows = order.length <= LIST_ALL_UP_TO ? order : [...order.slice(0, END_ROWS), -1, ...order.slice(-END_ROWS)];
  const where = multi ? `layer ${p.layer}` : fileLayers === null ? 'one layer' : `the file's layer ${p.axisRow}`;
  return (
    <div className="ranking axis-file-ranking" data-testid="axis-file-ranking" data-layer={p.layer} data-axis-row={p.axisRow}>
      <RowPicker />
      <div className="muted small-text" data-testid="axis-file-marks">
        Projection on <strong>{name}</strong> ({where}), h · a/|a|: {p.defaultProjection !== null && <>default ★ {formatCoord(p.defaultProjection, sig)} · </>}
        role centroid {p.centroidProjection !== null ? formatCoord(p.centroidProjection, sig) : '–'} · |a| {formatCoord(p.norm)} · cos with this set's axis{' '}
        <span data-testid="axis-file-cos-here">{p.cosOwn === null ? '– (the set has no axis of its own)' : format3(p.cosOwn)}</span>
      </div>
      <div className="ends">
        <div><span className="end-title">High end of {name}</span> {order.slice(0, 5).map((i) => p.names[i]).join(', ')}</div>
        <div><span className="end-title">Low end of {name}</span> {order.slice(-5).reverse().map((i) => p.names[i]).join(', ')}</div>
      </div>
      <div className="rank-scroll" style={{ maxHeight: '40vh' }}>
        <ol className="rank-list" aria-label={`Ranked by projection on ${name}`}>
          {rows.map((i, k) => i < 0 ? (
            <li key={`gap${k}`} className="muted small-text">… {order.length - 2 * END_ROWS} more …</li>
          ) : (
            <li key={i} data-testid="axis-file-rank-row" className={`rank-row ${sel.has(p.names[i]) ? 'selected' : ''}`} data-name={p.names[i]} data-value={p.projection[i]}
              onMouseEnter={() => onHover(i)} onMouseLeave={() => onHover(null)}>
              <button type="button" className="rank-button" aria-pressed={sel.has(p.names[i])} onClick={() => onToggle(p.names[i])}>
                <span className="rank-num">{p.rank[i]}</span>
                <span className="rank-name">{p.names[i]}{p.kinds[i] === 'trait' ? <span className="muted small-text"> trait</span> : null}</span>
                <span className="rank-val">{formatCoord(p.projection[i], sig)}</span>
              </button>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}

/** cos(file axis, the set's own axis) per layer: a line over the layers and the numbers in a table. */
export function AxisFileCosChart() {
  const { cos, file, proj } = useAxisFile(useShallow((st) => ({ cos: st.cos, file: st.file?.info ?? null, proj: st.projection })));
  const layer = useStore((st) => st.layer);
  const ref = useRef<SVGSVGElement>(null);
  if (!file || !cos) return null;
  const values = cos.cos;
  const overSet = cos.over === 'set-layers';
  const mark = overSet ? layer : proj?.axisRow ?? -1;
  return (
    <ChartFrame name="axis-file-cos" testId="axis-file-cos" title={`${file.name} against this set's axis`} onExport={(k) => void exportChart(ref.current, 'axis-file-cos', k)}
      subtitle={values === null ? cos.reason : overSet
        ? `cos(${file.name}, default − mean(roles)) at each layer of the set.`
        : `This set has one layer: cos of its axis with each of the file's ${values.length} layers (the peak is the layer it matches).`}>
      {values && (
        <>
          <CosLine ref={ref} values={values} mark={mark} xLabel={overSet ? 'layer of the set' : 'layer of the file'} />
          <details className="small-text">
            <summary>Numbers</summary>
            <table className="cos-table" data-testid="axis-file-cos-table">
              <thead><tr><th>layer</th><th>cos</th></tr></thead>
              <tbody>
                {values.map((v, l) => <tr key={l} data-layer={l} data-cos={Number.isFinite(v) ? v : ''}><td>{l}</td><td>{format3(v)}</td></tr>)}
              </tbody>
            </table>
          </details>
        </>
      )}
    </ChartFrame>
  );
}


const CosLine = forwardRef<SVGSVGElement, { values: number[]; mark: number; xLabel: string }>(function CosLine({ values, mark, xLabel }, ref) {
  const width = 440, height = 220;
  const m = { top: 16, right: 16, bottom: 36, left: 40 };
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const n = values.length;
  const x = (l: number) => m.left + (n <= 1 ? iw / 2 : (l / (n - 1)) * iw);
  const y = (v: number) => m.top + ((1 - Math.max(-1, Math.min(1, v))) / 2) * ih;
  const pts = values.map((v, l) => (Number.isFinite(v) ? `${x(l)},${y(v)}` : '')).filter(Boolean).join(' ');
  const ticks = Array.from(new Set([0, Math.round((n - 1) / 2), n - 1]));
  return (
    <svg ref={ref} viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label="cosine with the set's axis per layer" fontFamily="system-ui, sans-serif" data-testid="axis-file-cos-chart">
      <rect width={width} height={height} fill="#ffffff" />
      {[-1, 0, 1].map((t) => (
        <g key={t}>
          <line x1={m.left} x2={width - m.right} y1={y(t)} y2={y(t)} stroke={t === 0 ? '#bbb' : '#e4e1da'} />
          <text x={m.left - 6} y={y(t) + 4} fontSize="13" textAnchor="end" fill="#555">{t}</text>
        </g>
      ))}
      {ticks.map((l) => <text key={l} x={x(l)} y={height - m.bottom + 18} fontSize="13" textAnchor="middle" fill="#333">{l}</text>)}
      <text x={m.left + iw / 2} y={height - 2} fontSize="12" textAnchor="middle" fill="#555">{xLabel}</text>
      {mark >= 0 && mark < n && <line x1={x(mark)} x2={x(mark)} y1={m.top} y2={m.top + ih} stroke="#0a58ca" strokeWidth="2" />}
      {n === 1 ? <circle cx={x(0)} cy={y(values[0])} r="5" fill="#4b2a85" /> : <polyline points={pts} fill="none" stroke="#4b2a85" strokeWidth="3" />}
    </svg>
  );
});
