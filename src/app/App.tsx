/**
 * persona-space: load vectors, see every role on the persona map, read the Assistant Axis,
 * compare sets, export what is shown. Layout: load and view controls on the left, the map in the
 * middle, cards and the ranked axis on the right, layer charts and comparison below.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { PALETTE } from '../core/view/colors';
import { NameSearch } from '../core/view/search';
import type { SetInfo } from '../core/view/types';
import { ChartFrame } from './charts/ChartFrame';
import { downloadBlob, downloadText } from './charts/export-utils';
import { PersonaMap, type PersonaMapHandle } from './charts/PersonaMap';
import { AboutText, EmptyState } from './components/About';
import { AxisRanking } from './components/AxisRanking';
import { HoverCard, PinnedCards } from './components/Cards';
import { ComparePanel } from './components/ComparePanel';
import { SearchBar, ViewControls } from './components/Controls';
import { ExportPanel } from './components/ExportPanel';
import { filesFromDrop } from './components/files';
import { LayerCharts, LayerSlider, LayerStats } from './components/LayerPanel';
import { LoadPanel, ProgressLine } from './components/LoadPanel';
import { useStore } from './state/store';

export function summaryText(s: SetInfo): string {
  const parts: string[] = [];
  if (s.nRoles) parts.push(`${s.nRoles.toLocaleString('en-US')} roles`);
  if (s.nTraits) parts.push(`${s.nTraits.toLocaleString('en-US')} traits`);
  const other = s.count - s.nRoles - s.nTraits;
  if (other > 0) parts.push(`${other.toLocaleString('en-US')} vectors`);
  parts.push(s.layers === null ? '1 layer' : `${s.layers} layers`);
  parts.push(`d = ${s.dim}`, s.dtype, `default: ${s.defaultLabel ?? 'none'}`);
  return parts.join(' · ');
}

function Legend({ color, hasAxis }: { color: string; hasAxis: boolean }) {
  const grad = `linear-gradient(to right, ${PALETTE.filter((_, i) => i % 4 === 0).join(', ')})`;
  const axis = color === 'axis' && hasAxis;
  return (
    <div className="legend" aria-label="Colour scale">
      <span className="legend-end roleplay">{axis ? '◀ Role-play' : `${color === 'axis' ? 'PC1' : color.toUpperCase()} −`}</span>
      <span className="legend-bar" style={{ background: grad }} />
      <span className="legend-end assistant">{axis ? 'Assistant ▶' : '+'}</span>
      <span className="muted small-text">{axis ? 'colour: projection on the Assistant Axis (centre = mean of the roles)' : 'colour: coordinate on this component'}</span>
    </div>
  );
}

export function App() {
  const s = useStore();
  const a = s.analysis;
  const mapRef = useRef<PersonaMapHandle>(null);
  const [hoverAt, setHoverAt] = useState<{ x: number; y: number } | null>(null);
  const [dragging, setDragging] = useState(false);
  const [showAbout, setShowAbout] = useState(false);
  const mapBoxRef = useRef<HTMLDivElement>(null);

  const search = useMemo(() => (a ? new NameSearch(a.names) : null), [a]);
  const matches = useMemo(() => (search && s.search.trim() ? search.match(s.search) : []), [search, s.search]);

  useEffect(() => {
    document.title = s.setA ? `${s.setA.label} · persona-space` : 'persona-space';
  }, [s.setA]);

  // A share link in the address: load its source and restore its view.
  useEffect(() => {
    if (location.hash.length > 1) void useStore.getState().applyShareHash(location.hash);
    // A link pasted into this tab's address bar changes only the hash: apply it too.
    const onHash = () => { if (location.hash.length > 1) void useStore.getState().applyShareHash(location.hash); };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // Keyboard: Esc unpins everything, Ctrl+Z / Ctrl+Shift+Z undo and redo selection changes.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const st = useStore.getState();
      const typing = e.target instanceof HTMLInputElement && e.target.type !== 'range' && e.target.type !== 'checkbox';
      if (e.key === 'Escape') {
        if (st.selection.length) st.clearSelection();
        st.setHovered(null);
        setHoverAt(null);
      } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z' && !typing) {
        e.preventDefault();
        if (e.shiftKey) st.redoSelection();
        else st.undoSelection();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  // Drop files or folders anywhere on the page.
  useEffect(() => {
    let depth = 0;
    const over = (e: DragEvent) => { if (e.dataTransfer?.types.includes('Files')) { e.preventDefault(); } };
    const enter = (e: DragEvent) => { if (e.dataTransfer?.types.includes('Files')) { depth++; setDragging(true); } };
    const leave = () => { depth = Math.max(0, depth - 1); if (depth === 0) setDragging(false); };
    const drop = async (e: DragEvent) => {
      if (!e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      const files = await filesFromDrop(e.dataTransfer);
      const target = e.target instanceof Element && e.target.closest('.compare-panel') ? 'B' : 'A';
      void useStore.getState().loadFiles(files, target === 'B' ? 'compare' : 'drop', target);
    };
    window.addEventListener('dragover', over);
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);

  const exportMap = async (kind: 'png' | 'svg') => {
    const name = `persona-space-map-layer${a?.layer ?? 0}`;
    if (kind === 'svg') {
      const svg = mapRef.current?.toSvg();
      if (svg) downloadText(svg, `${name}.svg`, 'image/svg+xml');
    } else {
      const png = await mapRef.current?.toPng();
      if (png) downloadBlob(png, `${name}.png`);
    }
  };

  const hoveredOk = a && s.hovered !== null && s.hovered < a.names.length ? s.hovered : null;

  return (
    <div className={`app ${dragging ? 'dragging' : ''}`}>
      <header className="topbar">
        <h1>persona-space</h1>
        {s.setA ? (
          <div className="summary">
            <span className="set-label" title={s.setA.label}>{s.setA.label}</span>
            <span data-testid="set-summary" className="set-summary">{summaryText(s.setA)}</span>
          </div>
        ) : <div className="summary muted">the persona space of language models, in your browser</div>}
        <button type="button" className="small" aria-expanded={showAbout} onClick={() => setShowAbout(!showAbout)}>About</button>
      </header>
      {showAbout && <div className="about-pop panel"><AboutText /></div>}
      {s.pendingView && !s.setA && !s.loadA.busy && !s.pendingView.src && (
        <div className="notice" role="status">This link holds a view of vectors loaded from local files: load the same files and the view (layer, components, selection, colour) is restored.</div>
      )}
      <div className="layout">
        <aside className="sidebar left">
          <section className="panel">
            <h2>Data</h2>
            <LoadPanel compact={!!s.setA} />
          </section>
          {a && (
            <>
              <section className="panel">
                <h2>View</h2>
                <ViewControls />
              </section>
              <section className="panel">
                <h2>Search &amp; select</h2>
                <SearchBar matches={matches} />
              </section>
              <section className="panel">
                <h2>Export</h2>
                <ExportPanel />
              </section>
            </>
          )}
        </aside>

        <main className="center">
          {a ? (
            <ChartFrame name="map" title={<>Persona map{s.mode === '3d' ? ' · PC1–PC3' : ` · PC${s.pcx} × PC${s.pcy}`}</>} className="map-panel" onExport={(k) => void exportMap(k)}
              subtitle={<>{a.names.length.toLocaleString('en-US')} points drawn, none left out · {s.setA?.layers === null ? 'single layer' : `layer ${a.layer}`} · scroll to zoom, drag to {s.mode === '3d' ? 'rotate' : 'pan'}, click to pin</>}>
              <LayerSlider />
              <div className="map-box" ref={mapBoxRef}>
                <PersonaMap ref={mapRef} analysis={a} pcx={s.pcx} pcy={s.pcy} mode={s.mode} color={s.color} selection={s.selection}
                  matches={matches} isolate={s.isolate} hovered={hoveredOk} defaultLabel="Assistant (default)" resetToken={s.resetToken} focus={s.focus}
                  onHover={(i, at) => { s.setHovered(i); setHoverAt(at); }} onClickPoint={(i) => s.toggleSelected(a.names[i])} />
                {hoveredOk !== null && hoverAt && <HoverCard a={a} i={hoveredOk} at={hoverAt} width={mapBoxRef.current?.clientWidth ?? 800} />}
                {s.analysing && <div className="map-busy">computing layer {s.layer}…</div>}
              </div>
              <Legend color={s.color} hasAxis={a.axisNorm !== null} />
              <div className="muted small-text keys">Keys on the map: arrows {s.mode === '3d' ? 'rotate' : 'pan'} · + / − zoom · 0 resets · Esc unpins · Ctrl+Z undoes a selection change</div>
              {s.analysisError && <p className="error" role="alert">{s.analysisError}</p>}
            </ChartFrame>
          ) : (
            <section className="panel empty-panel">
              {s.loadA.busy ? <div className="loading-big"><h2>Loading…</h2><ProgressLine load={s.loadA} onCancel={() => s.cancelLoad('A')} testId="load-progress-main" cancelId="load-cancel-main" /></div> : <EmptyState onDemo={(n) => void s.loadUrl(n === 275 ? 'synthetic:275x24d256' : `synthetic:${n}`, 'demo')} />}
            </section>
          )}
          {a && (
            <div className="below">
              <LayerCharts />
              <ComparePanel />
            </div>
          )}
        </main>

        {a && (
          <aside className="sidebar right">
            <section className="panel">
              <h2>This layer</h2>
              <LayerStats />
            </section>
            {s.selection.length > 0 && (
              <section className="panel">
                <h2>Pinned</h2>
                <PinnedCards a={a} selection={s.selection} onUnpin={s.toggleSelected} />
              </section>
            )}
            <section className="panel grow">
              <h2>{a.kinds.every((k) => k === 'role') ? 'Roles' : 'Members'} along the {a.axisNorm !== null ? 'axis' : 'PC1'}</h2>
              <AxisRanking a={a} filter={s.rankFilter} onFilter={s.setRankFilter} selection={s.selection} onToggle={s.toggleSelected}
                onHover={(i) => { s.setHovered(i); setHoverAt(i === null ? null : mapRef.current?.pointPosition(i) ?? null); }} />
            </section>
          </aside>
        )}
      </div>
      {dragging && <div className="drop-overlay" aria-hidden="true">Drop files or a folder to load them</div>}
    </div>
  );
}
