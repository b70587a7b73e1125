/** The axis for this model: an axis file, the set open in the explorer (same shape), or a seeded direction for the synthetic model. */
import { useShallow } from 'zustand/react/shallow';
import { useStore } from '../state/store';
import { useChat } from './store';

export function AxisPicker() {
  const s = useChat(useShallow((st) => ({ info: st.model.info, axis: st.axis, busy: st.busy })));
  const explorer = useStore(useShallow((st) => ({ label: st.setA?.label ?? null, layers: st.setA ? st.setA.layers ?? 1 : null, dim: st.setA?.dim ?? null })));
  const act = useChat.getState();
  if (!s.info) return <p className="muted">Load a model first; the axis must have its layers and hidden size.</p>;
  const shapeOk = explorer.layers === s.info.numLayers && explorer.dim === s.info.hiddenSize;
  const synthetic = s.info.label.toLowerCase().includes('synthetic');
  return (
    <div className="chat-axis" data-testid="chat-axis-picker">
      <div className="load-row wrap">
        <label className={`button ${s.busy ? 'disabled' : ''}`}>
          Axis file…
          <input type="file" accept=".pt,.npy,.safetensors,.pth,.bin" data-testid="chat-axis-file" className="visually-hidden" disabled={s.busy}
            onChange={async (e) => {
              const f = e.currentTarget.files?.[0];
              e.currentTarget.value = '';
              if (f) await act.loadAxisFile(f.name, new Uint8Array(await f.arrayBuffer()));
            }} />
        </label>
        <button type="button" data-testid="chat-axis-explorer" disabled={s.busy || explorer.label === null} onClick={() => void act.useExplorerAxis()}
          title={explorer.label ? `Use the axis of ${explorer.label}` : 'Open a persona set in the Explorer first'}>From the explorer</button>
        {synthetic && <button type="button" data-testid="chat-axis-seeded" disabled={s.busy} onClick={() => void act.useSeededAxis()}>Seeded direction</button>}
      </div>
      {explorer.label !== null && !shapeOk && (
        <p className="muted small-text" data-testid="chat-axis-mismatch">
          The explorer's set ({explorer.label}) has {explorer.layers} layer{explorer.layers === 1 ? '' : 's'} of size {explorer.dim}; this model has {s.info.numLayers} layers of size {s.info.hiddenSize}.
        </p>
      )}
      <p className="muted small-text">An axis file is (n_layers, d) or (d,): the release's <code>assistant_axis.pt</code>, a contrast vector, a .npy or .safetensors.</p>
      {s.axis.status === 'loading' && <p role="status">Reading the axis…</p>}
      {s.axis.status === 'ready' && s.axis.summary && (
        <p data-testid="chat-axis-info">
          <strong>{s.axis.summary.label}</strong>
          <span className="muted small-text"> · {s.axis.summary.numLayers} × {s.axis.summary.hiddenSize}{s.axis.summary.roleSd ? ' · role statistics' : ' · no role statistics (steering in raw coefficients)'}{s.axis.summary.hasCalibration ? ' · calibration' : ' · no calibration (fixed cap threshold)'}</span>
        </p>
      )}
      {s.axis.error && <p className="error" role="alert" data-testid="chat-axis-error">{s.axis.error}</p>}
    </div>
  );
}
