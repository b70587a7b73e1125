/**
 * Components on the axes, 2D/3D, colour, layout (PCA, UMAP, a custom axis), projection reference,
 * traits and groups, reset; search with isolate, clear, undo and tags.
 */
import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useMatches } from '../selectors';
import { customCurrent, umapCurrent, useStore } from '../store';

export function ViewControls() {
  const k = useStore((s) => s.analysis?.k ?? 10);
  const pcx = useStore((s) => s.pcx);
  const pcy = useStore((s) => s.pcy);
  const mode = useStore((s) => s.mode);
  const color = useStore((s) => s.color);
  const hasAxis = useStore((s) => s.analysis != null && s.analysis.axisNorm !== null);
  const setPc = useStore((s) => s.setPc);
  const setMode = useStore((s) => s.setMode);
  const setColor = useStore((s) => s.setColor);
  const resetView = useStore((s) => s.resetView);
  const pcs = Array.from({ length: Math.max(1, Math.min(10, k)) }, (_, i) => i + 1);
  return (
    <div className="controls">
      <label className="field inline">
        x
        <select data-testid="pc-x-select" value={pcx} disabled={mode === '3d'} onChange={(e) => setPc('x', Number(e.target.value))}>
          {pcs.map((p) => <option key={p} value={p}>PC{p}</option>)}
        </select>
      </label>
      <label className="field inline">
        y
        <select data-testid="pc-y-select" value={pcy} disabled={mode === '3d'} onChange={(e) => setPc('y', Number(e.target.value))}>
          {pcs.map((p) => <option key={p} value={p}>PC{p}</option>)}
        </select>
      </label>
      <label className="check toggle">
        <input type="checkbox" data-testid="mode-3d" checked={mode === '3d'} disabled={k < 3} onChange={(e) => setMode(e.target.checked ? '3d' : '2d')} />
        3D (PC1–PC3)
      </label>
      <label className="field inline">
        colour
        <select data-testid="color-select" value={color} onChange={(e) => setColor(e.target.value as typeof color)}>
          <option value="axis">{hasAxis ? 'Assistant Axis projection' : 'PC1 (no axis: no default)'}</option>
          {pcs.map((p) => <option key={p} value={`pc${p}`}>PC{p}</option>)}
          <option value="group">group (role / trait / tag)</option>
        </select>
      </label>
      <button type="button" data-testid="reset-view" onClick={resetView} title="Reset zoom and rotation (key 0 on the map)">Reset view</button>
      <LayoutControls />
      <ShowControls />
    </div>
  );
}

/** PCA beside UMAP (seeded, in the worker, with progress and cancel) and a custom axis. */
export function LayoutControls() {
  const s = useStore(useShallow((st) => ({
    layout: st.layout, progress: st.umapProgress, umapError: st.umapError, dims: st.umapDims, seed: st.umapSeed,
    a: st.customA, b: st.customB, customError: st.customError, customBusy: st.customBusy, custom: st.custom,
    umapOk: umapCurrent(st), customOk: customCurrent(st), layer: st.layer, single: st.setA?.layers == null,
  })));
  const act = useStore(useShallow((st) => ({
    setLayout: st.setLayout, runUmap: st.runUmap, cancelUmap: st.cancelUmap, setDims: st.setUmapDims, setSeed: st.setUmapSeed,
    setQueries: st.setCustomQueries, runCustom: st.runCustom,
  })));
  return (
    <fieldset className="layout-controls">
      <legend>Layout</legend>
      <div className="load-row wrap" role="radiogroup" aria-label="Layout of the map">
        {(['pca', 'umap', 'custom'] as const).map((l) => (
          <button key={l} type="button" role="radio" aria-checked={s.layout === l} data-testid={`layout-${l}`} className={s.layout === l ? 'active small' : 'small'} onClick={() => act.setLayout(l)}>
            {l === 'pca' ? 'PCA' : l === 'umap' ? 'UMAP' : 'Custom axis'}
          </button>
        ))}
      </div>
      {s.layout === 'umap' && (
        <div className="sub-controls">
          <label className="field inline">seed <input type="number" min={0} value={s.seed} data-testid="umap-seed" style={{ width: '6em' }} onChange={(e) => act.setSeed(Number(e.target.value))} /></label>
          <label className="field inline">dimensions
            <select value={s.dims} data-testid="umap-dims" onChange={(e) => act.setDims(Number(e.target.value) === 3 ? 3 : 2)}><option value={2}>2</option><option value={3}>3</option></select>
          </label>
          {s.progress ? (
            <div className="progress" role="status">
              <progress max={1} value={s.progress.total ? s.progress.done / s.progress.total : 0} data-testid="umap-progress" />
              <div className="progress-row"><span>UMAP epoch {s.progress.done}/{s.progress.total || '…'}</span><button type="button" className="small" data-testid="umap-cancel" onClick={act.cancelUmap}>Cancel</button></div>
            </div>
          ) : <button type="button" className="small" data-testid="umap-run" onClick={() => void act.runUmap()}>{s.umapOk ? 'Run again' : `Run UMAP${s.single ? '' : ` at layer ${s.layer}`}`}</button>}
          <span className="muted small-text">cosine distance on the full vectors, 15 neighbours; the same seed gives the same picture. UMAP distances are not linear: read clusters, not lengths.</span>
          {s.umapError && <p className="error" role="alert" data-testid="umap-error">{s.umapError}</p>}
        </div>
      )}
      {s.layout === 'custom' && (
        <form className="sub-controls" onSubmit={(e) => { e.preventDefault(); void act.runCustom(); }}>
          <label className="field">x = centroid of <input type="text" value={s.a} data-testid="custom-a" onChange={(e) => act.setQueries(e.target.value, s.b)} /></label>
          <label className="field">minus centroid of <input type="text" value={s.b} data-testid="custom-b" onChange={(e) => act.setQueries(s.a, e.target.value)} /></label>
          <span className="muted small-text">Names (search, commas for several), <code>@default</code>, <code>@roles</code> or <code>@traits</code>. <code>@default</code> − <code>@roles</code> is the paper's Assistant Axis. y stays the PC chosen above.</span>
          <button type="submit" className="small" data-testid="custom-run" disabled={s.customBusy}>Project</button>
          {s.customOk && s.custom && (
            <span className="small-text" data-testid="custom-info">{s.custom.nA} vs {s.custom.nB} vectors · |A − B| = {s.custom.norm.toPrecision(4)}{s.custom.cosAxis !== null ? ` · cos with the Assistant Axis ${s.custom.cosAxis.toFixed(3)}` : ''}</span>
          )}
          {s.customError && <p className="error" role="alert" data-testid="custom-error">{s.customError}</p>}
        </form>
      )}
    </fieldset>
  );
}

/** What is drawn: traits, groups; how projections read. */
export function ShowControls() {
  const s = useStore(useShallow((st) => ({
    showTraits: st.showTraits, anyTraits: !!st.analysis?.kinds.some((k) => k === 'trait'), ref: st.projectionRef, hasAxis: st.analysis?.axisNorm != null,
    groupBy: st.groupBy, hidden: st.hiddenGroups, tags: st.tags, kinds: st.analysis?.kinds,
  })));
  const act = useStore(useShallow((st) => ({ setShowTraits: st.setShowTraits, setRef: st.setProjectionRef, setGroupBy: st.setGroupBy, toggle: st.toggleGroup })));
  const groupNames = s.groupBy === 'kind' ? [...new Set(s.kinds ?? [])] : [...new Set([...s.tags.values(), 'untagged'])];
  return (
    <div className="show-controls">
      {s.anyTraits && (
        <label className="check toggle"><input type="checkbox" data-testid="show-traits" checked={s.showTraits} onChange={(e) => act.setShowTraits(e.target.checked)} /> traits (squares)</label>
      )}
      {s.hasAxis && (
        <label className="field inline">projection
          <select data-testid="projection-ref" value={s.ref} onChange={(e) => act.setRef(e.target.value === 'centroid' ? 'centroid' : 'raw')}>
            <option value="raw">raw h · a (unit axis)</option>
            <option value="centroid">from the role centroid</option>
          </select>
        </label>
      )}
      <label className="field inline">groups
        <select data-testid="group-by" value={s.groupBy} onChange={(e) => act.setGroupBy(e.target.value === 'tag' ? 'tag' : 'kind')}>
          <option value="kind">role / trait</option>
          <option value="tag">my tags</option>
        </select>
      </label>
      <div className="load-row wrap" data-testid="group-filter" aria-label="Groups shown">
        {groupNames.map((g) => (
          <label key={g} className="check"><input type="checkbox" checked={!s.hidden.includes(g)} onChange={() => act.toggle(g)} /> {g}</label>
        ))}
      </div>
    </div>
  );
}

export function SearchBar() {
  const matches = useMatches();
  const [tag, setTag] = useState('');
  const tagSelection = useStore((s) => s.tagSelection);
  const clearTags = useStore((s) => s.clearTags);
  const nTags = useStore((s) => s.tags.size);
  const search = useStore((s) => s.search);
  const setSearch = useStore((s) => s.setSearch);
  const isolate = useStore((s) => s.isolate);
  const setIsolate = useStore((s) => s.setIsolate);
  const selection = useStore((s) => s.selection);
  const clear = useStore((s) => s.clearSelection);
  const undo = useStore((s) => s.undoSelection);
  const redo = useStore((s) => s.redoSelection);
  const canUndo = useStore((s) => s.undo.length > 0);
  const canRedo = useStore((s) => s.redo.length > 0);
  const addToSelection = useStore((s) => s.addToSelection);
  const focusOn = useStore((s) => s.focusOn);
  const names = useStore((s) => s.analysis?.names);
  return (
    <div className="search">
      <div className="search-row">
        <label className="visually-hidden" htmlFor="search">Search roles</label>
        <input id="search" type="search" data-testid="search" placeholder="Search roles (fuzzy; commas for several)" value={search}
          onChange={(e) => setSearch(e.target.value)}
          onKeyDown={(e) => { if (e.key === 'Enter' && names && matches.length) addToSelection(matches.map((i) => names[i])); }} />
        <span className="muted match-count" aria-live="polite">{search.trim() ? `${matches.length} match${matches.length === 1 ? '' : 'es'}` : ''}</span>
      </div>
      <div className="load-row wrap">
        <button type="button" disabled={!matches.length} onClick={() => names && addToSelection(matches.map((i) => names[i]))} title="Add the matches to the selection (Enter in the search box)">Select matches</button>
        <button type="button" data-testid="zoom-to" disabled={!matches.length && selection.length === 0}
          onClick={() => names && focusOn(matches.length ? matches.map((i) => names[i]) : selection)} title="Zoom the map onto the matches (or the selection)">Zoom to</button>
        <button type="button" data-testid="isolate" aria-pressed={isolate} className={isolate ? 'active' : ''} disabled={!isolate && selection.length === 0 && matches.length === 0} onClick={() => setIsolate(!isolate)}>
          {isolate ? 'Show all' : 'Isolate'}
        </button>
        <button type="button" data-testid="clear-selection" disabled={selection.length === 0 && !isolate} onClick={clear}>Clear selection</button>
        <button type="button" disabled={!canUndo} onClick={undo} title="Undo the last selection change (Ctrl+Z)">Undo</button>
        <button type="button" disabled={!canRedo} onClick={redo} title="Redo (Ctrl+Shift+Z)">Redo</button>
      </div>
      <form className="load-row" onSubmit={(e) => { e.preventDefault(); tagSelection(tag); setTag(''); }}>
        <label className="visually-hidden" htmlFor="tag-input">Tag for the selection</label>
        <input id="tag-input" type="text" data-testid="tag-input" placeholder="Tag the selection…" value={tag} onChange={(e) => setTag(e.target.value)} />
        <button type="submit" className="small" data-testid="tag-apply" disabled={!selection.length || !tag.trim()}>Tag</button>
        {nTags > 0 && <button type="button" className="small" onClick={clearTags}>Clear tags</button>}
      </form>
      <div className="muted small-text">{selection.length} selected · click a point to pin it, Esc unpins all</div>
    </div>
  );
}
