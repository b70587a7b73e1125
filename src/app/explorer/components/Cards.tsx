/**
 * The hover card beside the pointer and the pinned cards of the selection. A pinned card lists the
 * member's nearest neighbours (cosine over the full vectors at this layer, from the worker). The
 * default's star has a card too. Axis values read raw (h . a) or from the role centroid, as chosen.
 */
import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { formatCoord } from '../../../core/view/format';
import type { LayerAnalysis } from '../../../core/view/types';
import { analysisWorker, type NeighbourRow } from '../../../../workers/analysis-client';
import { useStore, type ProjectionRef } from '../store';

/** A projection as the person chose to read it: raw h . a, or relative to the role centroid. */
export function shownProjection(a: LayerAnalysis, v: number, ref: ProjectionRef): number {
  return ref === 'centroid' && a.centroidProjection != null ? v - a.centroidProjection : v;
}

export function projectionName(a: LayerAnalysis, ref: ProjectionRef): string {
  if (a.axisNorm === null) return 'PC1';
  return ref === 'centroid' ? 'axis − centroid' : 'h · axis';
}

function CardBody({ a, i, ref_ }: { a: LayerAnalysis; i: number; ref_: ProjectionRef }) {
  if (i === -1) {
    const dc = a.defaultCoords ?? [];
    return (
      <>
        <div className="card-name">Assistant (default) <span className="muted small-text">default</span></div>
        <dl className="card-grid">
          {dc.slice(0, 3).map((c, j) => <div key={j}><dt>PC{j + 1}</dt><dd>{formatCoord(c)}</dd></div>)}
          {a.defaultProjection !== null && <div><dt>{projectionName(a, ref_)}</dt><dd>{formatCoord(shownProjection(a, a.defaultProjection, ref_))}</dd></div>}
        </dl>
        <div className="muted small-text">The default is not fit: it is projected onto the roles' components. The axis points from the role centroid to it.</div>
      </>
    );
  }
  const coords = Array.from(a.coords.subarray(i * a.k, i * a.k + Math.min(a.k, 3)));
  const n = a.names.length;
  return (
    <>
      <div className="card-name">{a.names[i]} <span className="muted small-text">{a.kinds[i]}{a.fit && !a.fit[i] ? ' · projected, not fit' : ''}</span></div>
      <dl className="card-grid">
        {coords.map((c, j) => (
          <div key={j}><dt>PC{j + 1}</dt><dd>{formatCoord(c)}</dd></div>
        ))}
        <div><dt>{projectionName(a, ref_)}</dt><dd>{formatCoord(shownProjection(a, a.projection[i], ref_))}</dd></div>
        <div><dt>rank</dt><dd>{a.rank[i]} / {n}</dd></div>
      </dl>
    </>
  );
}

export function HoverCard({ a, i, at, width }: { a: LayerAnalysis; i: number; at: { x: number; y: number }; width: number }) {
  const ref_ = useStore((s) => s.projectionRef);
  const left = at.x + 16 + 300 > width ? Math.max(4, at.x - 16 - 300) : at.x + 16;
  return (
    <div className="card hover-card" data-testid={i === -1 ? 'default-card' : 'hover-card'} style={{ left, top: Math.max(4, at.y - 20) }} role="tooltip">
      <CardBody a={a} i={i} ref_={ref_} />
      {i >= 0 && <div className="muted small-text">click to pin</div>}
    </div>
  );
}

/** The member's nearest neighbours at this layer (cosine, full d). */
export function Neighbours({ name, layer, setId }: { name: string; layer: number; setId: string }) {
  const [rows, setRows] = useState<NeighbourRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pin = useStore((s) => s.toggleSelected);
  useEffect(() => {
    let live = true;
    setRows(null);
    void analysisWorker().neighbours('A', layer, name, 8).then((r) => {
      if (!live) return;
      if (r.ok) { setRows(r.value); setError(null); } else setError(r.error.message);
    });
    return () => { live = false; };
  }, [name, layer, setId]);
  if (error) return <p className="muted small-text">{error}</p>;
  return (
    <div className="neighbours" data-testid="neighbours">
      <div className="muted small-text">Nearest by cosine (full vectors, this layer):</div>
      {rows === null ? <span className="muted small-text">…</span> : (
        <ol className="neighbour-list">
          {rows.map((r) => (
            <li key={r.name} data-testid="neighbour-row">
              <button type="button" className="link" onClick={() => pin(r.name)} title={`Pin ${r.name}`}>{r.name}</button>
              <span className="muted"> {r.kind === 'trait' ? '(trait) ' : ''}{r.cos.toFixed(3)}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

export function PinnedCards() {
  const { a, selection, ref_ } = useStore(useShallow((s) => ({ a: s.analysis, selection: s.selection, ref_: s.projectionRef })));
  const onUnpin = useStore((s) => s.toggleSelected);
  if (!a) return null;
  const index = new Map(a.names.map((n, i) => [n, i]));
  const shown = selection.filter((n) => index.has(n));
  const max = 6;
  if (shown.length === 0) return null;
  return (
    <div className="pinned">
      {shown.slice(-max).reverse().map((name, j) => (
        <div key={name} className="card pinned-card" data-testid="pinned-card">
          <CardBody a={a} i={index.get(name)!} ref_={ref_} />
          {j < 3 && <Neighbours name={name} layer={a.layer} setId={a.setId} />}
          <button type="button" className="close" aria-label={`Unpin ${name}`} title="Unpin" onClick={() => onUnpin(name)}>×</button>
        </div>
      ))}
      {shown.length > max && <div className="muted small-text">+{shown.length - max} more selected</div>}
    </div>
  );
}
