/** The model: the short list (sizes and memory before anything is fetched), a hub id / URL, a local folder, the synthetic model. */
import { useEffect, useState } from 'react';
import type { GpuAdapterLike } from '../../core/lm/adapter';
import { int8GemvWasm } from '../../core/lm/int8-gemv-wasm';
import { formatBytes } from '../../core/view/format';
import { CacheList } from '../explorer/components/LoadPanel';
import { filesFromList } from '../explorer/components/files';
import { BACKEND_CHOICES, parseBackendChoice, plannedBackend, type BackendChoice, type PlannedBackend } from './backend-choice';
import { loadStageText, progressValue } from './load-progress';
import { LAB_DTYPES, MODEL_CHOICES, modelPlan, parseHubInput, type LabDtype } from './models';
import { useChat } from './store';
import { useShallow } from 'zustand/react/shallow';

const MAX_FOLDER_BYTES = 8e9;
/** Our int8 decoder runs here (WebAssembly SIMD), as the model worker will find: 8-bit files on WASM are planned for it. */
let ownDecoder: boolean | undefined;
const ownDecoderHere = () => (ownDecoder ??= int8GemvWasm() !== null);

async function readFolder(list: FileList | null): Promise<{ label: string; files: Record<string, Uint8Array> } | string> {
  const picked = filesFromList(list);
  if (picked.length === 0) return 'The folder is empty.';
  const total = picked.reduce((n, f) => n + f.file.size, 0);
  if (total > MAX_FOLDER_BYTES) return `The folder holds ${formatBytes(total)}, more than a browser tab can hold; pick the model folder itself.`;
  const top = picked[0].path.split('/')[0];
  const files: Record<string, Uint8Array> = Object.create(null);
  for (const f of picked) {
    if (f.path.split('/').some((p: string) => p.startsWith('.'))) continue;
    const rel = f.path.startsWith(top + '/') ? f.path.slice(top.length + 1) : f.path;
    files[rel] = new Uint8Array(await f.file.arrayBuffer());
  }
  return { label: `${top}/`, files };
}

type Backend = PlannedBackend;

/** This page's WebGPU adapter (null: none), asked for once. */
let adapterProbe: Promise<GpuAdapterLike | null> | null = null;
function pageAdapter(): Promise<GpuAdapterLike | null> {
  adapterProbe ??= (async () => {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
    return gpu ? await gpu.requestAdapter().catch(() => null) : null;
  })();
  return adapterProbe;
}

/**
 * The backend the worker will use for the chosen backend (src/app/chat/backend-choice.ts, judged as
 * src/core/lm/adapter.ts does): WebGPU with a hardware adapter (and its shader-f16), WASM without one
 * or, for `auto`, with a software adapter.
 */
function useBackend(choice: BackendChoice): Backend {
  const [adapter, setAdapter] = useState<GpuAdapterLike | null | undefined>(undefined);
  useEffect(() => {
    let live = true;
    void pageAdapter().then((a) => { if (live) setAdapter(a); });
    return () => { live = false; };
  }, []);
  return plannedBackend(choice, adapter ?? null);
}

/** auto / WebGPU / WASM for the next load; the loaded model's backend is shown below it. */
function BackendSelect({ disabled, note }: { disabled: boolean; note: string | null }) {
  const choice = useChat((s) => s.backend);
  const setBackend = useChat((s) => s.setBackend);
  const title = BACKEND_CHOICES.find((c) => c.value === choice)?.title ?? '';
  return (
    <label className="field inline" title={title}>
      Backend <select value={choice} data-testid="chat-backend-select" disabled={disabled} onChange={(e) => setBackend(parseBackendChoice(e.target.value))}>
        {BACKEND_CHOICES.map((c) => <option key={c.value} value={c.value} title={c.title}>{c.label}</option>)}
      </select>
      <span className="muted small-text" data-testid="chat-backend-note">{note ?? `${title}. For the next load; kept for this session.`}</span>
    </label>
  );
}

function ModelChoiceButton({ c, dtype, disabled, onPick, backend }: { c: (typeof MODEL_CHOICES)[number]; dtype: LabDtype; disabled: boolean; onPick: () => void; backend: Backend }) {
  const BACKEND = backend.backend;
  const plan = modelPlan(c, dtype, BACKEND, backend.shaderF16, BACKEND === 'wasm' && ownDecoderHere());
  const approx = plan.listed ? '' : '≈ ';
  return (
    <button type="button" role="listitem" className="chat-model-choice" data-testid={`chat-model-${c.id}`} disabled={disabled}
      title={`${c.repo} · ${c.layers} layers, d = ${c.hidden}. ${plan.choice ? plan.choice.reason : plan.error} ${plan.listed ? 'Sizes from the hub.' : 'Sizes computed from the shape; per-file progress shows the real ones.'}`}
      onClick={onPick}>
      <span className="chat-model-name">{c.label}</span>
      {plan.choice
        ? <span className="muted small-text" data-testid="chat-model-plan" data-download={plan.choice.downloadBytes} data-memory={plan.choice.memoryBytes}>{approx}{formatBytes(plan.choice.downloadBytes)} download · ~{formatBytes(plan.choice.memoryBytes)} memory on {BACKEND === 'webgpu' ? 'WebGPU' : 'WASM'} · {c.layers} layers{plan.choice.dtype !== dtype || plan.choice.convert ? ` · ${plan.choice.dtype}${plan.choice.convert ? ` → ${plan.choice.convert}` : ''}` : ''}</span>
        : <span className="muted small-text" data-testid="chat-model-plan">{plan.error}</span>}
    </button>
  );
}

export function ModelPicker() {
  const m = useChat(useShallow((s) => ({ status: s.model.status, info: s.model.info, device: s.model.device, error: s.model.error, resumable: s.model.resumable, busy: s.busy })));
  const loadModel = useChat((s) => s.loadModel);
  const [dtype, setDtype] = useState<LabDtype>('auto');
  const backend = useBackend(useChat((s) => s.backend));
  const [hubText, setHubText] = useState('');
  const [hubError, setHubError] = useState<string | null>(null);
  const loading = m.status === 'loading';
  return (
    <div className="chat-model" data-testid="chat-model-picker">
      <div className="chat-model-list" role="list">
        {MODEL_CHOICES.map((c) => (
          <ModelChoiceButton key={c.id} backend={backend} c={c} dtype={dtype} disabled={loading || m.busy} onPick={() => void loadModel({ kind: 'hub', repo: c.repo, dtype })} />
        ))}
      </div>
      <BackendSelect disabled={loading} note={backend.note} />
      <label className="field inline">
        Weights <select value={dtype} data-testid="chat-dtype" onChange={(e) => setDtype(e.target.value as LabDtype)}>
          {LAB_DTYPES.map((d) => <option key={d} value={d}>{d === 'auto' ? 'auto (fastest here)' : d}</option>)}
        </select>
        <span className="muted small-text">{dtype === 'auto' ? 'the fastest file this backend runs (each model says which)' : dtype.endsWith('f16') || dtype === 'fp16' ? 'float16: fastest on WebGPU' : 'float32 activations: runs everywhere'}</span>
      </label>
      <form className="load-row" onSubmit={(e) => {
        e.preventDefault();
        const h = parseHubInput(hubText);
        if (!h) { setHubError('Type a hub id like onnx-community/Qwen3-0.6B-ONNX, or its URL.'); return; }
        setHubError(null);
        void loadModel({ kind: 'hub', repo: h.repo, hub: h.hub, revision: h.revision, dtype });
      }}>
        <label className="visually-hidden" htmlFor="chat-hub-input">Hub model id or URL</label>
        <input id="chat-hub-input" type="text" data-testid="chat-hub-input" placeholder="org/model-ONNX or its URL" value={hubText} onChange={(e) => setHubText(e.target.value)} />
        <button type="submit" data-testid="chat-hub-load" disabled={loading}>Load</button>
      </form>
      {hubError && <p className="error" role="alert">{hubError}</p>}
      <div className="load-row">
        <label className={`button ${loading ? 'disabled' : ''}`}>
          Local folder…
          <input type="file" data-testid="chat-folder-input" className="visually-hidden" disabled={loading}
            {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            onChange={async (e) => {
              const r = await readFolder(e.currentTarget.files);
              e.currentTarget.value = '';
              if (typeof r === 'string') setHubError(r);
              else void loadModel({ kind: 'folder', label: r.label, files: r.files, dtype });
            }} />
        </label>
        <button type="button" data-testid="chat-model-synthetic" disabled={loading} onClick={() => void loadModel({ kind: 'synthetic' })}
          title="A tiny random model built in the browser: nothing to download; its words are noise, its numbers are real">Synthetic model (no download)</button>
      </div>
      <ModelProgress />
      {m.status === 'ready' && m.info && (
        <div className="chat-model-info" data-testid="chat-model-info">
          <div><strong>{m.info.label}</strong></div>
          <div className="muted small-text">{m.info.numLayers} layers · d = {m.info.hiddenSize} · {formatBytes(m.info.bytes)} · {m.info.residDtype}</div>
          <div className="small-text" data-testid="chat-backend">
            Backend: <strong>{m.info.backend === 'webgpu' ? 'WebGPU' : `WASM${m.info.threads > 1 ? `, ${m.info.threads} threads` : ', 1 thread'}${m.info.runtime === 'own' ? ', our int8 decoder' : ''}`}</strong> — {m.info.reason}
            {m.info.backend === 'wasm' && m.device !== 'wasm' && !/software adapter/.test(m.info.reason) && <span className="muted"> (WASM is slower than a GPU's WebGPU but gives the same numbers; nothing is wrong.)</span>}
          </div>
          {m.info.warnings.length > 0 && <div className="muted small-text">{m.info.warnings.join(' ')}</div>}
        </div>
      )}
      {m.error && (
        <div className="error" role="alert" data-testid="chat-model-error">
          {m.error}
          {m.resumable && <> <button type="button" className="small" data-testid="chat-model-resume" onClick={() => void useChat.getState().resumeLoad()}>Resume</button></>}
        </div>
      )}
      <details className="advanced">
        <summary>Cached files</summary>
        <CacheList />
      </details>
    </div>
  );
}

function ModelProgress() {
  const p = useChat(useShallow((s) => ({ status: s.model.status, files: s.model.files, done: s.model.filesDone, total: s.model.filesTotal })));
  const cancel = useChat((s) => s.cancelLoad);
  if (p.status !== 'loading') return null;
  return (
    <div className="progress" role="status" aria-live="polite" data-testid="chat-model-progress">
      <div className="progress-row">
        <span>{p.total ? `${p.done} of ${p.total} files` : 'Starting…'}</span>
        <button type="button" className="small" data-testid="chat-model-cancel" onClick={cancel}>Cancel</button>
      </div>
      <ul className="chat-file-list">
        {p.files.map((f) => f.stage ? (
          // a stage after the downloads (converting 4-bit weights, preparing our int8 decoder's): no count yet is an indeterminate bar
          <li key={f.file} data-testid="chat-load-stage">
            <span className="chat-file-name" title={loadStageText(f)}>{loadStageText(f)}</span>
            {f.total === null ? <progress max={1} /> : <progress max={1} value={progressValue(f)} />}
          </li>
        ) : (
          <li key={f.file} data-testid="chat-file-progress">
            <span className="chat-file-name" title={f.file}>{f.file}</span>
            <progress max={1} value={f.total ? f.loaded / f.total : 0} />
            <span className="muted small-text">{f.cached ? 'cache' : `${formatBytes(f.loaded)}${f.total ? ` / ${formatBytes(f.total)}` : ''}`}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
