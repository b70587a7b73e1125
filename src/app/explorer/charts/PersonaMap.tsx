/**
 * The persona map: a canvas scatter of every member on two chosen components (or PC1–PC3 in 3D),
 * with d3-zoom pan/zoom, drag-to-rotate in 3D, quadtree hover hit-testing, labels placed without
 * overlap, the default as a star and the Assistant Axis as an arrow.
 */
import { quadtree, type Quadtree } from 'd3-quadtree';
import { select } from 'd3-selection';
import { zoom, zoomIdentity, type D3ZoomEvent, type ZoomBehavior } from 'd3-zoom';
import { forwardRef, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState } from 'react';
import { colorIndices, divergingDomain } from '../../../core/view/colors';
import { stepByRank, stepInDirection, type Direction } from '../../../core/view/keyboard';
import { labelPriority } from '../../../core/view/labels';
import { buildScene, EMPH, sceneToSvg, type MapScene, type Rotation } from '../../../core/view/map-scene';
import type { LayerAnalysis } from '../../../core/view/types';
import { drawScene, MAP_FONT } from './map-render';

export interface PersonaMapProps {
  analysis: LayerAnalysis;
  pcx: number;
  pcy: number;
  mode: '2d' | '3d';
  color: string;
  selection: readonly string[];
  matches: readonly number[];
  isolate: boolean;
  hovered: number | null;
  defaultLabel: string;
  resetToken: number;
  /** Zoom onto these members when the token changes (2D). */
  focus?: { token: number; names: readonly string[] };
  /** Hover: a member index, -1 for the default's star, null for nothing. */
  onHover(i: number | null, at: { x: number; y: number } | null): void;
  onClickPoint(i: number): void;
  /** Points left off the map (traits switched off, hidden groups): 1 = hidden. */
  hidden?: Uint8Array | null;
  /** Colours instead of the value scale (groups): palette index per point and the palette. */
  groupColors?: { index: Uint8Array; palette: readonly string[] } | null;
  /** Titles of the axes when the layout is not PCA's (UMAP, a custom axis). */
  axisTitles?: { x: string; y: string; z?: string };
  pcaLayout?: boolean;
  /** Numbered polylines (chat trajectories) in the analysis's coordinates. */
  overlays?: { label: string; color: string; coords: Float32Array; turns: number[] }[];
  /** Told how many points are drawn after each draw. */
  onDrawn?(count: number): void;
}

export interface PersonaMapHandle {
  toPng(): Promise<Blob | null>;
  toSvg(): string;
  /** Where point i is drawn (CSS pixels in the map box), or null when it is hidden or off the map. */
  pointPosition(i: number): { x: number; y: number } | null;
}

export function colorValues(a: LayerAnalysis, color: string): Float32Array {
  if (color === 'axis') return a.projection;
  const j = Math.min(a.k, Math.max(1, Number(color.slice(2)))) - 1;
  const out = new Float32Array(a.names.length);
  for (let i = 0; i < out.length; i++) out[i] = a.coords[i * a.k + j];
  return out;
}

export const PersonaMap = forwardRef<PersonaMapHandle, PersonaMapProps>(function PersonaMap(props, ref) {
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [size, setSize] = useState({ width: 800, height: 600 });
  const transformRef = useRef({ k: 1, x: 0, y: 0 });
  const rotationRef = useRef<Rotation>({ yaw: -0.6, pitch: 0.35 });
  const zoomRef = useRef<ZoomBehavior<HTMLCanvasElement, unknown> | null>(null);
  const sceneRef = useRef<MapScene | null>(null);
  const treeRef = useRef<Quadtree<number> | null>(null);
  const frameRef = useRef(0);
  const widthCache = useRef(new Map<string, number>());
  const [drawn, setDrawn] = useState(0);
  const propsRef = useRef(props);
  propsRef.current = props;
  // Render counter (data-renders): a streamed chat token must not re-render the map.
  const renders = useRef(0);
  renders.current++;

  const a = props.analysis;
  const n = a.names.length;
  const fontSize = n > 2000 ? 13 : 15;

  const colors = useMemo(() => {
    if (props.groupColors) return props.groupColors.index;
    const v = colorValues(a, props.color);
    // Axis: centred on the roles' mean projection; a PC: centred on 0 (the roles' mean).
    return colorIndices(v, divergingDomain(v, props.color === 'axis' ? undefined : 0));
  }, [a, props.color, props.groupColors]);
  const shape = useMemo(() => Uint8Array.from(a.kinds, (k) => (k === 'trait' ? 1 : 0)), [a]);

  // Label priority: both ends of the axis in turn, and the points far out on the shown components.
  const labelOrder = useMemo(() => {
    const jx = Math.min(props.pcx, a.k) - 1, jy = Math.min(props.pcy, a.k) - 1;
    const dist = new Float64Array(n);
    for (let i = 0; i < n; i++) dist[i] = Math.hypot(a.coords[i * a.k + jx], a.coords[i * a.k + jy]);
    return labelPriority(a.projection, dist);
  }, [a, n, props.pcx, props.pcy]);

  const emphasis = useMemo(() => {
    const e = new Uint8Array(n).fill(EMPH.normal);
    const sel = new Set(props.selection);
    const matched = new Set(props.matches);
    const focus = sel.size + matched.size > 0;
    for (let i = 0; i < n; i++) {
      if (sel.has(a.names[i])) e[i] = EMPH.selected;
      else if (matched.has(i)) e[i] = EMPH.highlighted;
      else if (props.isolate && focus) e[i] = EMPH.hidden;
      else if (matched.size > 0) e[i] = EMPH.dimmed;
      if (props.hidden?.[i] && e[i] !== EMPH.selected) e[i] = EMPH.hidden;
    }
    return e;
  }, [a, n, props.selection, props.matches, props.isolate, props.hidden]);

  const orderCache = useRef<{ key: unknown; order: Uint32Array | null }>({ key: null, order: null });

  const measure = useCallback((text: string, bold: boolean) => {
    const key = (bold ? 'b:' : 'n:') + fontSize + text;
    let w = widthCache.current.get(key);
    if (w === undefined) {
      const ctx = canvasRef.current?.getContext('2d');
      if (!ctx) return text.length * fontSize * 0.55;
      ctx.font = `${bold ? 'bold ' : ''}${fontSize}px ${MAP_FONT}`;
      w = ctx.measureText(text).width;
      widthCache.current.set(key, w);
    }
    return w;
  }, [fontSize]);

  const makeScene = useCallback((): MapScene => {
    const p = propsRef.current;
    const cacheKey = [emphasis, p.mode];
    const scene = buildScene({
      analysis: p.analysis, pcx: p.pcx, pcy: p.pcy, mode: p.mode, rotation: rotationRef.current,
      transform: transformRef.current, width: size.width, height: size.height, color: colors, emphasis, labelOrder,
      hovered: p.hovered, defaultLabel: p.defaultLabel, fontSize, measure,
      palette: p.groupColors?.palette, shape, axisTitles: p.axisTitles, pcaLayout: p.pcaLayout ?? true,
      hasDefault: p.analysis.defaultCoords !== null, overlays: p.overlays,
      cachedOrder: orderCache.current.key && (orderCache.current.key as unknown[])[0] === emphasis && (orderCache.current.key as unknown[])[1] === p.mode ? orderCache.current.order : null,
    });
    if (p.mode === '2d') orderCache.current = { key: cacheKey, order: scene.order };
    return scene;
  }, [colors, emphasis, labelOrder, size, fontSize, measure, shape]);

  const draw = useCallback(() => {
    frameRef.current = 0;
    const canvas = canvasRef.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const dpr = window.devicePixelRatio || 1;
    const scene = makeScene();
    sceneRef.current = scene;
    treeRef.current = null;
    const count = drawScene(ctx, scene, dpr, propsRef.current.hovered, propsRef.current.mode);
    setDrawn(count);
    propsRef.current.onDrawn?.(count);
    // Where the default's star is drawn (tests and assistive tools find it there).
    const w = wrapRef.current, dp = scene.proj.defaultPt;
    if (w) w.dataset.defaultAt = dp ? `${Math.round(dp.x)},${Math.round(dp.y)}` : '';
  }, [makeScene]);

  const requestDraw = useCallback(() => {
    if (!frameRef.current) frameRef.current = requestAnimationFrame(draw);
  }, [draw]);

  // Size the canvas to its box (device pixels for crisp text on a projector).
  useEffect(() => {
    const el = wrapRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      const r = el.getBoundingClientRect();
      setSize({ width: Math.max(200, Math.floor(r.width)), height: Math.max(200, Math.floor(r.height)) });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(size.width * dpr);
    canvas.height = Math.round(size.height * dpr);
    canvas.style.width = `${size.width}px`;
    canvas.style.height = `${size.height}px`;
    draw();
  }, [size, draw]);

  useEffect(() => { requestDraw(); }, [props.hovered, props.pcx, props.pcy, props.mode, props.overlays, props.axisTitles, requestDraw]);

  // Zoom and pan (wheel, drag, pinch, double-click); in 3D a drag rotates instead of panning.
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const z = zoom<HTMLCanvasElement, unknown>()
      .scaleExtent([0.3, 400])
      .filter((event: Event) => {
        const e = event as MouseEvent;
        if (propsRef.current.mode === '3d') return event.type === 'wheel' || event.type === 'dblclick' || event.type.startsWith('touch');
        return (!e.ctrlKey || event.type === 'wheel') && !e.button;
      })
      .on('zoom', (ev: D3ZoomEvent<HTMLCanvasElement, unknown>) => {
        transformRef.current = { k: ev.transform.k, x: ev.transform.x, y: ev.transform.y };
        requestDraw();
      });
    zoomRef.current = z;
    select(canvas).call(z).on('dblclick.zoom', null);
    return () => { select(canvas).on('.zoom', null); };
  }, [requestDraw]);

  // Reset zoom/rotation when asked (reset button, new components, new set).
  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !zoomRef.current) return;
    rotationRef.current = { yaw: -0.6, pitch: 0.35 };
    select(canvas).call(zoomRef.current.transform, zoomIdentity);
    transformRef.current = { k: 1, x: 0, y: 0 };
    requestDraw();
  }, [props.resetToken, requestDraw]);

  // Zoom onto the requested members: their box, centred, at most 8x, never closer than needed.
  useEffect(() => {
    const f = propsRef.current.focus;
    const canvas = canvasRef.current, z = zoomRef.current, sc = sceneRef.current;
    if (!f || f.token === 0 || !canvas || !z || !sc || propsRef.current.mode !== '2d') return;
    const want = new Set(f.names);
    const t = transformRef.current;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    propsRef.current.analysis.names.forEach((name, i) => {
      if (!want.has(name)) return;
      const bx = (sc.proj.x[i] - t.x) / t.k, by = (sc.proj.y[i] - t.y) / t.k;
      x0 = Math.min(x0, bx); x1 = Math.max(x1, bx); y0 = Math.min(y0, by); y1 = Math.max(y1, by);
    });
    if (!Number.isFinite(x0)) return;
    const k = Math.max(1, Math.min(8, (sc.width * 0.6) / Math.max(x1 - x0, 1), (sc.height * 0.6) / Math.max(y1 - y0, 1)));
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    select(canvas).call(z.transform, zoomIdentity.translate(sc.width / 2 - k * cx, sc.height / 2 - k * cy).scale(k));
  }, [props.focus?.token]);

  const hitTest = useCallback((mx: number, my: number): number | null => {
    const s = sceneRef.current;
    if (!s) return null;
    if (!treeRef.current) {
      const idx: number[] = [];
      for (let i = 0; i < s.emphasis.length; i++) if (s.emphasis[i] !== EMPH.hidden) idx.push(i);
      treeRef.current = quadtree<number>().x((i) => s.proj.x[i]).y((i) => s.proj.y[i]).addAll(idx);
    }
    // The default's star is a target too (-1): its card tells where the Assistant sits.
    const dp = s.proj.defaultPt;
    if (dp && Math.hypot(mx - dp.x, my - dp.y) <= Math.max(9, s.radius * 3.2) + 2) return -1;
    const found = treeRef.current.find(mx, my, Math.max(10, s.radius * 2.5));
    return found === undefined ? null : found;
  }, []);

  const drag = useRef<{ x: number; y: number; moved: boolean } | null>(null);

  const onPointerDown = (e: React.PointerEvent<HTMLCanvasElement>) => {
    drag.current = { x: e.clientX, y: e.clientY, moved: false };
    if (props.mode === '3d') e.currentTarget.setPointerCapture(e.pointerId);
  };
  const onPointerMove = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const d = drag.current;
    if (d && (e.buttons & 1)) {
      const dx = e.clientX - d.x, dy = e.clientY - d.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) d.moved = true;
      if (props.mode === '3d') {
        const rot = rotationRef.current;
        rotationRef.current = { yaw: rot.yaw + dx * 0.008, pitch: Math.max(-1.5, Math.min(1.5, rot.pitch + dy * 0.008)) };
        d.x = e.clientX; d.y = e.clientY;
        requestDraw();
      }
      return;
    }
    const hit = hitTest(mx, my);
    props.onHover(hit, hit === null ? null : { x: mx, y: my });
  };
  const onPointerUp = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const d = drag.current;
    drag.current = null;
    if (d && !d.moved) {
      const r = e.currentTarget.getBoundingClientRect();
      const hit = hitTest(e.clientX - r.left, e.clientY - r.top);
      if (hit !== null && hit >= 0) props.onClickPoint(hit);
    }
  };

  const onKeyDown = (e: React.KeyboardEvent<HTMLCanvasElement>) => {
    const canvas = canvasRef.current;
    const z = zoomRef.current;
    if (!canvas || !z) return;
    const step = 60;
    const sel = select(canvas);
    // Shift + arrows step to the nearest point that way; n / p along the ranking; Enter pins it.
    const sc = sceneRef.current;
    const visible = (i: number) => !!sc && sc.emphasis[i] !== EMPH.hidden;
    const cur = props.hovered !== null && props.hovered >= 0 ? props.hovered : null;
    const goTo = (i: number | null) => {
      if (i === null || !sc) return;
      props.onHover(i, { x: sc.proj.x[i], y: sc.proj.y[i] });
      e.preventDefault();
    };
    if (e.shiftKey && e.key.startsWith('Arrow') && sc) {
      const dir = e.key.slice(5).toLowerCase() as Direction;
      goTo(stepInDirection(sc.proj.x, sc.proj.y, cur, dir, visible));
      e.preventDefault();
      return;
    }
    if ((e.key === 'n' || e.key === 'p') && sc) { goTo(stepByRank(props.analysis.rank, cur, e.key === 'n' ? 1 : -1, visible)); return; }
    if (e.key === 'Enter' && cur !== null) { props.onClickPoint(cur); e.preventDefault(); return; }
    if (props.mode === '3d' && e.key.startsWith('Arrow')) {
      const rot = rotationRef.current;
      const dy = e.key === 'ArrowUp' ? -0.15 : e.key === 'ArrowDown' ? 0.15 : 0;
      const dx = e.key === 'ArrowLeft' ? -0.15 : e.key === 'ArrowRight' ? 0.15 : 0;
      rotationRef.current = { yaw: rot.yaw + dx, pitch: Math.max(-1.5, Math.min(1.5, rot.pitch + dy)) };
      requestDraw();
      e.preventDefault();
      return;
    }
    switch (e.key) {
      case 'ArrowLeft': z.translateBy(sel, step / transformRef.current.k, 0); break;
      case 'ArrowRight': z.translateBy(sel, -step / transformRef.current.k, 0); break;
      case 'ArrowUp': z.translateBy(sel, 0, step / transformRef.current.k); break;
      case 'ArrowDown': z.translateBy(sel, 0, -step / transformRef.current.k); break;
      case '+': case '=': z.scaleBy(sel, 1.3); break;
      case '-': case '_': z.scaleBy(sel, 1 / 1.3); break;
      case '0': z.transform(sel, zoomIdentity); break;
      default: return;
    }
    e.preventDefault();
  };

  useImperativeHandle(ref, () => ({
    toPng: () => new Promise<Blob | null>((resolve) => {
      draw();
      if (canvasRef.current) canvasRef.current.toBlob((b) => resolve(b), 'image/png');
      else resolve(null);
    }),
    toSvg: () => sceneToSvg(sceneRef.current ?? makeScene()),
    pointPosition: (i: number) => {
      const sc = sceneRef.current;
      if (!sc || i < 0 || i >= sc.emphasis.length || sc.emphasis[i] === EMPH.hidden) return null;
      const x = sc.proj.x[i], y = sc.proj.y[i];
      return x >= 0 && y >= 0 && x <= sc.width && y <= sc.height ? { x, y } : null;
    },
  }), [draw, makeScene]);

  const highlighted = emphasis.reduce((c, e) => c + (e >= EMPH.highlighted ? 1 : 0), 0);

  return (
    <div
      ref={wrapRef}
      className="map-canvas-wrap"
      data-testid="map"
      data-points={drawn}
      data-default={a.defaultCoords ? '1' : '0'}
      data-highlighted={highlighted}
      data-pcx={props.mode === '3d' ? 1 : props.pcx}
      data-pcy={props.mode === '3d' ? 2 : props.pcy}
      data-mode={props.mode}
      data-renders={renders.current}
      data-layout={props.pcaLayout === false ? (props.axisTitles?.x.startsWith('UMAP') ? 'umap' : 'custom') : 'pca'}
      data-trajectories={props.overlays?.length ?? 0}
    >
      <canvas
        ref={canvasRef}
        tabIndex={0}
        role="img"
        aria-label={`Persona map: ${drawn} points on ${props.axisTitles ? `${props.axisTitles.x} and ${props.axisTitles.y}` : props.mode === '3d' ? 'PC1, PC2 and PC3' : `PC${props.pcx} and PC${props.pcy}`}. Arrow keys pan${props.mode === '3d' ? ' (rotate in 3D)' : ''}, plus and minus zoom, 0 resets; Shift+arrows step from point to point, n and p along the ranking, Enter pins.`}
        className={props.mode === '3d' ? 'rotate' : undefined}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerLeave={() => props.onHover(null, null)}
        onKeyDown={onKeyDown}
      />
    </div>
  );
});
