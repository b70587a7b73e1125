/** Components on the axes, 2D/3D, colour, reset; search with isolate, clear and undo. */
import { useStore } from '../state/store';

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
        </select>
      </label>
      <button type="button" data-testid="reset-view" onClick={resetView} title="Reset zoom and rotation (key 0 on the map)">Reset view</button>
    </div>
  );
}

export function SearchBar({ matches }: { matches: number[] }) {
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
      <div className="muted small-text">{selection.length} selected · click a point to pin it, Esc unpins all</div>
    </div>
  );
}
