/**
 * The explorer: load vectors, see every role on the persona map, read the Assistant Axis, compare
 * sets, export what is shown. Layout: load and view controls on the left, the map in the middle,
 * cards and the ranked axis on the right, layer charts and comparison below.
 *
 * Every part selects only what it renders from the explorer's store (no component subscribes to
 * the whole store), so a hover re-renders the map and its card, not the page.
 */
import { useEffect, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { hashWithoutTab } from '../../core/view/tabs';
import type { SetInfo } from '../../core/view/types';
import { AboutText, EmptyState } from './components/About';
import { AxisRanking } from './components/AxisRanking';
import { PinnedCards } from './components/Cards';
import { ComparePanel } from './components/ComparePanel';
import { SearchBar, ViewControls } from './components/Controls';
import { ExportPanel } from './components/ExportPanel';
import { filesFromDrop } from './components/files';
import { LayerCharts, LayerStats } from './components/LayerPanel';
import { LoadPanel, ProgressLine } from './components/LoadPanel';
import { MapPanel } from './components/MapPanel';
import { SetName } from './components/SetName';
import { AxisFileCosChart, AxisFilePanel } from './axis/AxisFilePanel';
import { useAxisFile } from './axis/axis-store';
import { useStore } from './store';
import { isChatHash } from '../chat/share';

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

/** The open set in the page header (every tab shows which set the explorer holds). */
export function ExplorerSummary() {
  const setA = useStore((s) => s.setA);
  if (!setA) return <div className="summary muted">the persona space of language models, in your browser</div>;
  return (
    <div className="summary">
      <SetName slot="A" />
      <span data-testid="set-summary" className="set-summary">{summaryText(setA)}</span>
    </div>
  );
}

export function Explorer({ active = true }: { active?: boolean }) {
  const hasA = useStore((s) => s.analysis !== null);
  const hasSelection = useStore((s) => s.selection.length > 0);
  const { loadBusy, pendingLocal } = useStore(useShallow((s) => ({
    loadBusy: s.loadA.busy,
    pendingLocal: !!s.pendingView && !s.setA && !s.loadA.busy && !s.pendingView.src,
  })));
  const [dragging, setDragging] = useState(false);
  // Render counter (data-renders): hovering the map or a streamed chat token must not re-render the page.
  const renders = useRef(0);
  renders.current++;
  const activeRef = useRef(active);
  activeRef.current = active;

  useEffect(() => {
    const setA = useStore.getState().setA;
    document.title = setA ? `${setA.label} · persona-space` : 'persona-space';
    return useStore.subscribe((s, prev) => {
      if (s.setA !== prev.setA) document.title = s.setA ? `${s.setA.label} · persona-space` : 'persona-space';
    });
  }, []);

  // A share link in the address: load its source and restore its view.
  useEffect(() => {
    const apply = () => {
      // The tab key is the page's, not the view's: a hash that only names a tab restores nothing.
      const h = hashWithoutTab(location.hash);
      // A chat lab share link is the lab's, not a view of the explorer's.
      if (h.length > 1 && !isChatHash(location.hash)) void useStore.getState().applyShareHash(h);
    };
    apply();
    // A link pasted into this tab's address bar changes only the hash: apply it too.
    window.addEventListener('hashchange', apply);
    return () => window.removeEventListener('hashchange', apply);
  }, []);

  // Keyboard: Esc unpins everything (unless it closes an enlarged chart), Ctrl+Z / Ctrl+Shift+Z
  // undo and redo selection changes. Only while the explorer's tab is open.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!activeRef.current) return;
      const st = useStore.getState();
      const typing = e.target instanceof HTMLInputElement && e.target.type !== 'range' && e.target.type !== 'checkbox';
      if (e.key === 'Escape') {
        if (e.defaultPrevented) return;
        if (st.selection.length) st.clearSelection();
        st.setHovered(null);
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
    const files = (e: DragEvent) => activeRef.current && !!e.dataTransfer?.types.includes('Files');
    const over = (e: DragEvent) => { if (files(e)) e.preventDefault(); };
    const enter = (e: DragEvent) => { if (files(e)) { depth++; setDragging(true); } };
    const leave = () => { depth = Math.max(0, depth - 1); if (depth === 0) setDragging(false); };
    const drop = async (e: DragEvent) => {
      if (!files(e)) return;
      e.preventDefault();
      depth = 0;
      setDragging(false);
      const list = await filesFromDrop(e.dataTransfer!);
      // Dropped on the axis file panel: the file is an axis, not a set.
      if (e.target instanceof Element && e.target.closest('.axis-file-panel')) { void useAxisFile.getState().loadFiles(list); return; }
      const target = e.target instanceof Element && e.target.closest('.compare-panel') ? 'B' : 'A';
      void useStore.getState().loadFiles(list, target === 'B' ? 'compare' : 'drop', target);
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

  return (
    <div className={`explorer ${dragging ? 'dragging' : ''}`} data-testid="explorer" data-renders={renders.current}>
      {pendingLocal && (
        <div className="notice" role="status">This link holds a view of vectors loaded from local files: load the same files and the view (layer, components, selection, colour) is restored.</div>
      )}
      <div className="layout">
        <aside className="sidebar left">
          <section className="panel">
            <h2>Data</h2>
            <LoadPanel compact={hasA} />
          </section>
          {hasA && (
            <>
              <section className="panel">
                <h2>View</h2>
                <ViewControls />
              </section>
              <section className="panel">
                <h2>Axis file</h2>
                <AxisFilePanel />
              </section>
              <section className="panel">
                <h2>Search &amp; select</h2>
                <SearchBar />
              </section>
              <section className="panel">
                <h2>Export</h2>
                <ExportPanel />
              </section>
            </>
          )}
        </aside>

        <main className="center">
          {hasA ? <MapPanel /> : (
            <section className="panel empty-panel">
              {loadBusy ? <LoadingBig /> : <EmptyState onDemo={(n) => void useStore.getState().loadUrl(n === 275 ? 'synthetic:275x24d256' : `synthetic:${n}`, 'demo')} />}
            </section>
          )}
          {hasA && (
            <div className="below">
              <LayerCharts />
              <AxisFileCosChart />
              <ComparePanel />
            </div>
          )}
        </main>

        {hasA && (
          <aside className="sidebar right">
            <section className="panel">
              <h2>This layer</h2>
              <LayerStats />
            </section>
            {hasSelection && (
              <section className="panel">
                <h2>Pinned</h2>
                <PinnedCards />
              </section>
            )}
            <section className="panel grow">
              <RankingHeading />
              <AxisRanking />
            </section>
          </aside>
        )}
      </div>
      {dragging && <div className="drop-overlay" aria-hidden="true">Drop files or a folder to load them</div>}
    </div>
  );
}

function LoadingBig() {
  const loadA = useStore((s) => s.loadA);
  const cancel = useStore((s) => s.cancelLoad);
  return <div className="loading-big"><h2>Loading…</h2><ProgressLine load={loadA} onCancel={() => cancel('A')} testId="load-progress-main" cancelId="load-cancel-main" /></div>;
}

function RankingHeading() {
  const { allRoles, hasAxis, anyTraits } = useStore(useShallow((s) => ({
    allRoles: !!s.analysis && s.analysis.kinds.every((k) => k === 'role'),
    anyTraits: !!s.analysis && s.analysis.kinds.some((k) => k === 'trait'),
    hasAxis: s.analysis?.axisNorm != null,
  })));
  const what = allRoles ? 'Roles' : anyTraits ? 'Roles and traits' : 'Members';
  return <h2>{what} along the {hasAxis ? 'axis' : 'PC1'}</h2>;
}

export { AboutText };
