/**
 * The map panel: title and subtitle (what is drawn, which layout), the layer slider, the map with
 * its hover card, the legend and the keys. It alone follows the hover, so a hover re-renders this
 * panel and not the page. Chat trajectories (the overlay store) are drawn on the PCA layout.
 */
import { useCallback, useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { GROUP_PALETTE, groupIndices, PALETTE } from '../../../core/view/colors';
import type { LayerAnalysis } from '../../../core/view/types';
import { ChartFrame } from '../../charts/ChartFrame';
import { downloadBlob, downloadText } from '../../charts/export-utils';
import { useOverlays } from '../../state/overlays';
import { PersonaMap, type PersonaMapHandle } from '../charts/PersonaMap';
import { groupOf, useMatches } from '../selectors';
import { customCurrent, umapCurrent, useStore, type Store } from '../store';
import { HoverCard } from './Cards';
import { LayerSlider } from './LayerPanel';

/** The analysis as the chosen layout places it (PCA as computed; UMAP or the custom axis swapped in). */
export function layoutView(s: Pick<Store, 'layout' | 'umap' | 'custom' | 'pcy'> & { analysis: LayerAnalysis }, umapOk: boolean, customOk: boolean): { view: LayerAnalysis; titles?: { x: string; y: string; z?: string }; pca: boolean } {
  const a = s.analysis;
  if (s.layout === 'umap' && umapOk && s.umap) {
    const u = s.umap;
    return {
      view: { ...a, k: u.dims, coords: u.coords, defaultCoords: u.defaultCoords, explained: [] },
      titles: { x: `UMAP 1 (seed ${u.seed}, cosine)`, y: 'UMAP 2', z: u.dims === 3 ? 'UMAP 3' : undefined }, pca: false,
    };
  }
  if (s.layout === 'custom' && customOk && s.custom) {
    const c = s.custom;
    const n = a.names.length, k = a.k, jy = Math.min(s.pcy, k) - 1;
    const coords = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) { coords[i * 2] = c.x[i]; coords[i * 2 + 1] = a.coords[i * k + jy]; }
    const defaultCoords = c.defaultX !== null && a.defaultCoords ? [c.defaultX, a.defaultCoords[jy]] : null;
    return {
      view: { ...a, k: 2, coords, defaultCoords },
      titles: { x: `${c.queryA} − ${c.queryB} (centroids; 0 = halfway)`, y: `PC${s.pcy}` }, pca: false,
    };
  }
  return { view: a, pca: true };
}

function Legend({ color, hasAxis, groups }: { color: string; hasAxis: boolean; groups: string[] | null }) {
  if (groups) {
    return (
      <div className="legend" aria-label="Colour by group" data-testid="group-legend">
        {groups.map((g, i) => (
          <span key={g} className="legend-group"><span className="swatch" style={{ background: GROUP_PALETTE[Math.min(i, GROUP_PALETTE.length - 1)] }} />{g}</span>
        ))}
      </div>
    );
  }
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

export function MapPanel() {
  const s = useStore(useShallow((st) => ({
    analysis: st.analysis!, pcx: st.pcx, pcy: st.pcy, mode: st.mode, color: st.color, selection: st.selection, isolate: st.isolate,
    hovered: st.hovered, resetToken: st.resetToken, focus: st.focus, analysing: st.analysing, analysisError: st.analysisError,
    layers: st.setA?.layers ?? null, layerNow: st.layer, layout: st.layout, umap: st.umap, custom: st.custom, showTraits: st.showTraits,
    groupBy: st.groupBy, hiddenGroups: st.hiddenGroups, tags: st.tags, umapOk: umapCurrent(st), customOk: customCurrent(st),
    hasDefault: st.setA?.defaultLabel != null,
  })));
  const setHovered = useStore((st) => st.setHovered);
  const toggleSelected = useStore((st) => st.toggleSelected);
  const trajectories = useOverlays((o) => o.trajectories);
  const matches = useMatches();
  const mapRef = useRef<PersonaMapHandle>(null);
  const boxRef = useRef<HTMLDivElement>(null);
  const [hoverAt, setHoverAt] = useState<{ x: number; y: number } | null>(null);
  const [drawn, setDrawn] = useState(0);
  const a = s.analysis;

  const { view, titles, pca } = useMemo(() => layoutView(s, s.umapOk, s.customOk),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [a, s.layout, s.umap, s.custom, s.pcy, s.umapOk, s.customOk]);

  const anyTraits = useMemo(() => a.kinds.some((k) => k === 'trait'), [a]);
  const groups = useMemo(() => a.names.map((nm, i) => groupOf(s, nm, a.kinds[i])),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [a, s.groupBy, s.tags]);
  const colourByGroup = s.color === 'group';
  const groupColors = useMemo(() => {
    if (!colourByGroup) return null;
    const g = groupIndices(groups);
    return { index: g.index, palette: GROUP_PALETTE, names: g.names };
  }, [colourByGroup, groups]);
  const hidden = useMemo(() => {
    const h = new Uint8Array(a.names.length);
    const off = new Set(s.hiddenGroups);
    for (let i = 0; i < h.length; i++) if ((!s.showTraits && a.kinds[i] === 'trait') || off.has(groups[i])) h[i] = 1;
    return h;
  }, [a, s.showTraits, s.hiddenGroups, groups]);

  // Chat trajectories: only on the PCA layout, and only those read at the layer on the map.
  const overlays = useMemo(() => {
    if (!pca) return [];
    return trajectories.filter((t) => t.layer === a.layer && t.points.length > 0).map((t) => {
      const coords = new Float32Array(t.points.length * a.k);
      t.points.forEach((p, j) => { for (let c = 0; c < a.k; c++) coords[j * a.k + c] = p.coords[c] ?? 0; });
      return { label: t.label, color: t.color, coords, turns: t.points.map((p) => p.turn) };
    });
  }, [trajectories, a, pca]);

  const onHover = useCallback((i: number | null, at: { x: number; y: number } | null) => { setHovered(i); setHoverAt(at); }, [setHovered]);
  const onClickPoint = useCallback((i: number) => toggleSelected(a.names[i]), [toggleSelected, a]);

  const layerName = s.layers === null ? 'no layer (single-layer set)' : `layer ${a.layer}`;
  const exportMap = async (kind: 'png' | 'svg') => {
    const name = `persona-space-map${s.layers === null ? '' : `-layer${a.layer}`}${s.layout === 'pca' ? '' : `-${s.layout}`}`;
    if (kind === 'svg') {
      const svg = mapRef.current?.toSvg();
      if (svg) downloadText(svg, `${name}.svg`, 'image/svg+xml');
    } else {
      const png = await mapRef.current?.toPng();
      if (png) downloadBlob(png, `${name}.png`);
    }
  };

  // A custom axis is a flat picture; UMAP is drawn in the dimensions it was run in.
  const mapMode = s.layout === 'custom' && s.customOk ? '2d' : s.layout === 'umap' && s.umapOk ? (s.umap!.dims === 3 ? '3d' : '2d') : s.mode;
  const total = a.names.length;
  const hoveredOk = s.hovered !== null && s.hovered < total && (s.hovered >= 0 || a.defaultCoords !== null) ? s.hovered : null;
  const title = s.layout === 'umap' && s.umapOk ? 'UMAP' : s.layout === 'custom' && s.customOk ? 'Custom axis' : s.mode === '3d' ? 'PC1–PC3' : `PC${s.pcx} × PC${s.pcy}`;
  const left = total - drawn;
  return (
    <ChartFrame name="map" title={<>Persona map · {title}</>} className="map-panel" onExport={(k) => void exportMap(k)}
      subtitle={<span data-testid="map-subtitle">{drawn.toLocaleString('en-US')} of {total.toLocaleString('en-US')} points drawn{left > 0 ? ` (${left.toLocaleString('en-US')} hidden by isolate or filters)` : ', none left out'}{anyTraits ? ' · traits as squares' : ''} · {layerName} · scroll to zoom, drag to {mapMode === '3d' ? 'rotate' : 'pan'}, click to pin</span>}>
      <LayerSlider />
      <div className="map-box" ref={boxRef}>
        <PersonaMap ref={mapRef} analysis={view} pcx={pca ? s.pcx : 1} pcy={pca ? s.pcy : 2} mode={mapMode} color={s.color === 'group' ? 'axis' : s.color}
          selection={s.selection} matches={matches} isolate={s.isolate} hovered={hoveredOk} defaultLabel={s.hasDefault ? 'Assistant (default)' : 'default'}
          resetToken={s.resetToken} focus={s.focus} onHover={onHover} onClickPoint={onClickPoint}
          hidden={hidden} groupColors={groupColors} axisTitles={titles} pcaLayout={pca} overlays={overlays} onDrawn={setDrawn} />
        {hoveredOk !== null && hoverAt && <HoverCard a={a} i={hoveredOk} at={hoverAt} width={boxRef.current?.clientWidth ?? 800} />}
        {s.analysing && <div className="map-busy">computing layer {s.layerNow}…</div>}
      </div>
      <Legend color={s.color} hasAxis={a.axisNorm !== null && s.hasDefault} groups={groupColors?.names ?? null} />
      {overlays.length === 0 && trajectories.some((t) => t.points.length > 0) && (
        <div className="muted small-text" data-testid="trajectory-elsewhere">
          {pca ? `Chat trajectories were read at layer ${[...new Set(trajectories.map((t) => t.layer))].join(', ')}: show that layer to see them.` : 'Chat trajectories are drawn on the PCA layout.'}
        </div>
      )}
      {overlays.length > 0 && <div className="muted small-text" data-testid="trajectory-legend">Chat trajectories: {overlays.map((o) => o.label).join(', ')} · numbers are assistant turns</div>}
      <div className="muted small-text keys">Keys on the map: arrows {s.mode === '3d' ? 'rotate' : 'pan'} · Shift+arrows step to the next point · n / p along the ranking · Enter pins · + / − zoom · 0 resets · Esc unpins · Ctrl+Z undoes a selection change</div>
      {s.analysisError && <p className="error" role="alert">{s.analysisError}</p>}
    </ChartFrame>
  );
}
