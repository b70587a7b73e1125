/**
 * Every member ranked by projection on the Assistant Axis. The two ends are summarised on top (so
 * both are visible at once); the full list below scrolls and filters.
 */
import { useMemo, useRef, useState } from 'react';
import { formatCoord } from '../../core/view/format';
import type { LayerAnalysis } from '../../core/view/types';

const ROW_H = 30;
/** Lists longer than this are windowed (only the visible rows are in the page). */
const WINDOW_ABOVE = 3000;

export function AxisRanking({ a, filter, onFilter, selection, onToggle, onHover }: {
  a: LayerAnalysis; filter: string; onFilter(s: string): void; selection: readonly string[]; onToggle(name: string): void; onHover(i: number | null): void;
}) {
  const order = useMemo(() => Array.from(a.rank.keys()).sort((x, y) => a.rank[x] - a.rank[y]), [a]);
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f ? order.filter((i) => a.names[i].toLowerCase().includes(f)) : order;
  }, [order, filter, a]);
  const sel = new Set(selection);
  const [scroll, setScroll] = useState(0);
  const boxRef = useRef<HTMLDivElement>(null);
  const windowed = rows.length > WINDOW_ABOVE;
  const viewH = 420;
  const first = windowed ? Math.max(0, Math.floor(scroll / ROW_H) - 10) : 0;
  const last = windowed ? Math.min(rows.length, first + Math.ceil(viewH / ROW_H) + 20) : rows.length;
  const label = a.axisNorm !== null ? 'projection on the axis' : 'PC1 (no default, no axis)';
  const ends = 5;
  const top = order.slice(0, ends), bottom = order.slice(-ends).reverse();
  return (
    <div className="ranking" data-testid="axis-ranking">
      <div className="ends">
        <div><span className="end-title assistant">Assistant end</span> {top.map((i) => a.names[i]).join(', ')}</div>
        <div><span className="end-title roleplay">Role-play end</span> {bottom.map((i) => a.names[i]).join(', ')}</div>
      </div>
      <label className="visually-hidden" htmlFor="axis-filter">Filter the ranking</label>
      <input id="axis-filter" type="search" data-testid="axis-filter" placeholder={`Filter ${a.names.length.toLocaleString('en-US')} names…`} value={filter} onChange={(e) => onFilter(e.target.value)} />
      <div className="muted small-text">{rows.length.toLocaleString('en-US')} of {a.names.length.toLocaleString('en-US')} · ranked by {label} · 1 = most Assistant-like</div>
      <div ref={boxRef} className="rank-scroll" onScroll={(e) => windowed && setScroll(e.currentTarget.scrollTop)}>
        <ol className="rank-list" aria-label="Ranked by projection on the axis" style={windowed ? { height: rows.length * ROW_H, position: 'relative' } : undefined}>
          {rows.slice(first, last).map((i, r) => (
            <li key={i} data-testid="axis-rank-row" className={`rank-row ${sel.has(a.names[i]) ? 'selected' : ''}`}
              style={windowed ? { position: 'absolute', top: (first + r) * ROW_H, left: 0, right: 0 } : undefined}
              onMouseEnter={() => onHover(i)} onMouseLeave={() => onHover(null)}>
              <button type="button" className="rank-button" aria-pressed={sel.has(a.names[i])} onClick={() => onToggle(a.names[i])}>
                <span className="rank-num">{a.rank[i]}</span>
                <span className="rank-name">{a.names[i]}</span>
                <span className="rank-val">{formatCoord(a.projection[i])}</span>
              </button>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
