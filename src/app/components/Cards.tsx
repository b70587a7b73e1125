/** The hover card beside the pointer and the pinned cards of the selection. */
import { formatCoord } from '../../core/view/format';
import type { LayerAnalysis } from '../../core/view/types';

function CardBody({ a, i }: { a: LayerAnalysis; i: number }) {
  const coords = Array.from(a.coords.subarray(i * a.k, i * a.k + Math.min(a.k, 3)));
  const n = a.names.length;
  return (
    <>
      <div className="card-name">{a.names[i]} <span className="muted small-text">{a.kinds[i]}</span></div>
      <dl className="card-grid">
        {coords.map((c, j) => (
          <div key={j}><dt>PC{j + 1}</dt><dd>{formatCoord(c)}</dd></div>
        ))}
        <div><dt>{a.axisNorm !== null ? 'axis' : 'PC1'}</dt><dd>{formatCoord(a.projection[i])}</dd></div>
        <div><dt>rank</dt><dd>{a.rank[i]} / {n}</dd></div>
      </dl>
    </>
  );
}

export function HoverCard({ a, i, at, width }: { a: LayerAnalysis; i: number; at: { x: number; y: number }; width: number }) {
  const left = at.x + 16 + 300 > width ? Math.max(4, at.x - 16 - 300) : at.x + 16;
  return (
    <div className="card hover-card" data-testid="hover-card" style={{ left, top: Math.max(4, at.y - 20) }} role="tooltip">
      <CardBody a={a} i={i} />
      <div className="muted small-text">click to pin</div>
    </div>
  );
}

export function PinnedCards({ a, selection, onUnpin }: { a: LayerAnalysis; selection: readonly string[]; onUnpin(name: string): void }) {
  const index = new Map(a.names.map((n, i) => [n, i]));
  const shown = selection.filter((n) => index.has(n));
  const max = 6;
  if (shown.length === 0) return null;
  return (
    <div className="pinned">
      {shown.slice(-max).reverse().map((name) => (
        <div key={name} className="card pinned-card" data-testid="pinned-card">
          <CardBody a={a} i={index.get(name)!} />
          <button type="button" className="close" aria-label={`Unpin ${name}`} title="Unpin" onClick={() => onUnpin(name)}>×</button>
        </div>
      ))}
      {shown.length > max && <div className="muted small-text">+{shown.length - max} more selected</div>}
    </div>
  );
}
