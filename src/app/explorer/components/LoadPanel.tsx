/**
 * Every way in: files, a folder, a URL (file, hub folder, hf://), one click for the official
 * release, with progress, cancel and the list of cached sets. Errors show here, in a sentence.
 */
import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { RELEASE_MODELS, releaseSizeEstimate } from '../../../core/hub';
import { formatBytes, formatProgress } from '../../../core/view/format';
import { useStore, type LoadOrigin, type LoadState } from '../store';
import { filesFromList } from './files';
import { useAxisFile } from '../axis/axis-store';

export function ProgressLine({ load, onCancel, testId = 'load-progress', cancelId = 'load-cancel' }: { load: LoadState; onCancel(): void; testId?: string; cancelId?: string }) {
  if (!load.busy) return null;
  const p = load.progress;
  const frac = p && p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
  const bytesFrac = p && p.bytesTotal ? p.bytesLoaded / p.bytesTotal : frac;
  const text = p
    ? `${formatProgress(p.filesDone, p.filesTotal, p.bytesLoaded, p.bytesTotal ?? undefined)}${p.phase === 'parse' ? ' · reading' : p.filesCached ? ` · ${p.filesCached} from cache` : ''}`
    : 'Starting…';
  return (
    <div className="progress" role="status" aria-live="polite">
      <progress max={1} value={Math.max(frac, bytesFrac)} />
      <div className="progress-row">
        <span data-testid={testId}>{text}</span>
        <button type="button" className="small" data-testid={cancelId} onClick={onCancel}>Cancel</button>
      </div>
      {p?.path && <div className="progress-file" title={p.path}>{p.path}</div>}
    </div>
  );
}

export function LoadError({ load, origins }: { load: LoadState; origins: LoadOrigin[] }) {
  const hasSet = useStore((s) => s.setA !== null);
  if (!load.error || !origins.includes(load.error.origin)) return null;
  // An axis file opened as a set, picked or at a URL: the same one click loads it as an axis.
  const { files, url } = load.error.code === 'axis-only' ? load.error : { files: undefined, url: undefined };
  const asAxis = files ? () => useAxisFile.getState().loadFiles(files) : url ? () => useAxisFile.getState().loadUrl(url) : null;
  return (
    <p className="error" role="alert" data-testid="load-error">
      {load.error.message}
      {asAxis && (hasSet
        ? <> <button type="button" className="small" data-testid="load-as-axis" onClick={() => void asAxis()}>Load it as an axis</button></>
        : <span className="muted"> Open a persona set first; then “Load as axis” projects it on this axis.</span>)}
    </p>
  );
}

export function LoadPanel({ compact = false }: { compact?: boolean }) {
  const loadA = useStore((s) => s.loadA);
  const loadFiles = useStore((s) => s.loadFiles);
  const loadUrl = useStore((s) => s.loadUrl);
  const cancel = useStore((s) => s.cancelLoad);
  const traits = useStore((s) => s.traits);
  const setTraits = useStore((s) => s.setTraits);
  const [url, setUrl] = useState('');

  return (
    <div className={`load-panel ${compact ? 'compact' : ''}`}>
      <div className="load-row">
        <label className="button primary">
          Open files…
          <input type="file" multiple data-testid="file-input" className="visually-hidden"
            onChange={(e) => { const f = filesFromList(e.currentTarget.files); e.currentTarget.value = ''; void loadFiles(f, 'files'); }} />
        </label>
        <label className="button">
          Open folder…
          <input type="file" data-testid="folder-input" className="visually-hidden"
            {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            onChange={(e) => { const f = filesFromList(e.currentTarget.files); e.currentTarget.value = ''; void loadFiles(f, 'files'); }} />
        </label>
      </div>
      <LoadError load={loadA} origins={['files', 'drop']} />
      <form className="load-row url-row" onSubmit={(e) => { e.preventDefault(); void loadUrl(url, 'url'); }}>
        <label className="visually-hidden" htmlFor="url-input">URL of a file or hub folder</label>
        <input id="url-input" type="url" inputMode="url" placeholder="https://…/file.pt  ·  hub folder URL  ·  hf://datasets/…" value={url}
          data-testid="url-input" onChange={(e) => setUrl(e.target.value)} />
        <button type="submit" data-testid="url-load">Load URL</button>
      </form>
      <LoadError load={loadA} origins={['url', 'share']} />
      <div className="release">
        <div className="release-title">Official release <span className="muted">(lu-christina/assistant-axis-vectors)</span></div>
        <div className="load-row wrap">
          {RELEASE_MODELS.map((m) => (
            <button key={m.id} type="button" data-testid={`release-${m.id}`} disabled={loadA.busy}
              title={`${m.layers} layers, d = ${m.dim}: about ${formatBytes(releaseSizeEstimate(m.id, { traits }))} to download the first time (then cached), and about as much memory, since vectors stay in bfloat16 and one layer is decoded at a time`}
              onClick={() => void loadUrl(`release:${m.id}`, 'release')}>
              {m.label}
              <span className="muted small-text"> · {formatBytes(releaseSizeEstimate(m.id, { traits }))}</span>
            </button>
          ))}
        </div>
        <label className="check"><input type="checkbox" checked={traits} onChange={(e) => setTraits(e.target.checked)} /> include the 240 trait vectors (twice the download)</label>
      </div>
      <LoadError load={loadA} origins={['release', 'demo']} />
      <ProgressLine load={loadA} onCancel={() => cancel('A')} />
      <DefaultField />
      {!compact && (
        <details className="advanced">
          <summary>Options</summary>
          <button type="button" className="link" data-testid="demo-load" onClick={() => void loadUrl('synthetic:20000', 'demo')}>Try a synthetic set of 20,000 points</button>
        </details>
      )}
      <CacheList />
    </div>
  );
}

/**
 * Which vector is the default: the file's own, or the mean of the members named here. Stays
 * visible once a set is open; Apply reads the same source again with the new default (the set on
 * the map stays until the new one is ready). Members whose name starts with "default" are offered.
 */
export function DefaultField() {
  const defaultNames = useStore((s) => s.defaultNames);
  const setDefaultNames = useStore((s) => s.setDefaultNames);
  const apply = useStore((s) => s.reloadWithDefault);
  const canReload = useStore((s) => s.lastLoad !== null && !s.loadA.busy);
  const current = useStore((s) => s.setA?.defaultLabel ?? null);
  const candidates = useStore(useShallow((s) => (s.analysis ? s.analysis.names.filter((n) => /^default/i.test(n)).slice(0, 12) : [])));
  const add = (n: string) => {
    const cur = defaultNames.split(',').map((x) => x.trim()).filter(Boolean);
    if (!cur.includes(n)) setDefaultNames([...cur, n].join(', '));
  };
  return (
    <form className="default-field" onSubmit={(e) => { e.preventDefault(); void apply(); }}>
      <label className="field">
        Default = mean of these members (comma-separated; empty: the file's own default)
        <input type="text" data-testid="default-names" value={defaultNames} placeholder="e.g. default, assistant" onChange={(e) => setDefaultNames(e.target.value)} />
      </label>
      {candidates.length > 0 && (
        <div className="load-row wrap" data-testid="default-candidates">
          <span className="muted small-text">members named default…:</span>
          {candidates.map((n) => <button key={n} type="button" className="small" onClick={() => add(n)}>{n}</button>)}
        </div>
      )}
      <div className="load-row">
        <button type="submit" className="small" data-testid="default-apply" disabled={!canReload}>Apply to the open set</button>
        <span className="muted small-text" data-testid="default-current">now: {current ?? 'none'}</span>
      </div>
    </form>
  );
}

export function CacheList() {
  const cache = useStore((s) => s.cache);
  const refresh = useStore((s) => s.refreshCache);
  const del = useStore((s) => s.deleteCached);
  const loadUrl = useStore((s) => s.loadUrl);
  const cacheError = useStore((s) => s.cacheError);
  useEffect(() => { void refresh(); }, [refresh]);
  return (
    <div className="cache">
      <div className="release-title">Cached sets <span className="muted">(kept in this browser, work offline)</span></div>
      <ul data-testid="cache-list" className="cache-list">
        {cache.every((c) => !c.complete && c.bytes === 0) && <li className="muted">Nothing cached yet: downloaded sets appear here.</li>}
        {/* A load that failed before any byte was kept is no cached set: it is not listed. */}
        {cache.filter((c) => c.complete || c.bytes > 0).map((c) => (
          <li key={c.id} data-testid="cache-row" className="cache-row">
            <button type="button" className="link" title={`Load ${c.source}`} onClick={() => void loadUrl(c.source, 'url')}>{c.label}</button>
            <span className="muted">{c.files} files · {formatBytes(c.bytes)}{c.complete ? '' : ' · partly downloaded (loading it again resumes)'}</span>
            <button type="button" className="small danger" data-testid="cache-delete" aria-label={`Delete ${c.label} from the cache`} onClick={() => void del(c.id)}>Delete</button>
          </li>
        ))}
      </ul>
      {cacheError && <p className="error">{cacheError}</p>}
    </div>
  );
}
