/**
 * Every member ranked by projection on the Assistant Axis. The two ends are summarised on top (so
 * both are visible at once); the full list below scrolls and filters.
 */
import { useMemo, useRef, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { digitsToSeparate, formatCoord } from '../../../core/view/format';
import { useStore } from '../store';
import { projectionName, shownProjection } from './Cards';

const ROW_H = 30;
/** Lists longer than this are windowed (only the visible rows are in the page). */
const WINDOW_ABOVE = 3000;

export function AxisRanking() {
  const { a, filter, selection, ref_, showTraits, hasDefault } = useStore(useShallow((s) => ({
    a: s.analysis!, filter: s.rankFilter, selection: s.selection, ref_: s.projectionRef, showTraits: s.showTraits, hasDefault: s.setA?.defaultLabel != null,
  })));
  const onFilter = useStore((s) => s.setRankFilter);
  const onToggle = useStore((s) => s.toggleSelected);
  const onHover = useStore((s) => s.setHovered);
  const order = useMemo(() => Array.from(a.rank.keys()).filter((i) => showTraits || a.kinds[i] !== 'trait').sort((x, y) => a.rank[x] - a.rank[y]), [a, showTraits]);
  const rows = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f ? order.filter((i) => a.names[i].toLowerCase().includes(f)) : order;
  }, [order, filter, a]);
  // Enough significant digits that distinct values never print as ties (large-norm models).
  const sig = useMemo(() => digitsToSeparate(a.projection), [a]);
  const sel = new Set(selection);
  const [scroll, setScroll] = useState(0);
  const boxRef = useRef<HTMLDivElement>(null);
  const windowed = rows.length > WINDOW_ABOVE;
  const viewH = 420;
  const first = windowed ? Math.max(0, Math.floor(scroll / ROW_H) - 10) : 0;
  const last = windowed ? Math.min(rows.length, first + Math.ceil(viewH / ROW_H) + 20) : rows.length;
  const label = a.axisNorm !== null ? (ref_ === 'centroid' ? 'projection on the axis, from the role centroid' : 'projection on the unit axis, h · a') : 'PC1 (no default, no axis)';
  const ends = 5;
  const top = order.slice(0, ends), bottom = order.slice(-ends).reverse();
  // The ends are named for the paper's picture only where a default defines the axis.
  const named = hasDefault && a.axisNorm !== null;
  const what = a.axisNorm !== null ? 'axis' : 'PC1';
  return (
    <div className="ranking" data-testid="axis-ranking">
      <div className="ends" data-testid="ranking-ends">
        <div><span className={`end-title ${named ? 'assistant' : ''}`}>{named ? 'Assistant end' : `High end of ${what}`}</span> {top.map((i) => a.names[i]).join(', ')}</div>
        <div><span className={`end-title ${named ? 'roleplay' : ''}`}>{named ? 'Role-play end' : `Low end of ${what}`}</span> {bottom.map((i) => a.names[i]).join(', ')}</div>
        {a.axisNorm !== null && (
          <div className="muted small-text" data-testid="axis-marks">
            {projectionName(a, ref_)}: {a.defaultProjection !== null && <>default ★ {formatCoord(shownProjection(a, a.defaultProjection, ref_), sig)} · </>}
            role centroid {a.centroidProjection != null ? formatCoord(shownProjection(a, a.centroidProjection, ref_), sig) : '–'}
          </div>
        )}
      </div>
      <label className="visually-hidden" htmlFor="axis-filter">Filter the ranking</label>
      <input id="axis-filter" type="search" data-testid="axis-filter" placeholder={`Filter ${a.names.length.toLocaleString('en-US')} names…`} value={filter} onChange={(e) => onFilter(e.target.value)} />
      <div className="muted small-text">{rows.length.toLocaleString('en-US')} of {order.length.toLocaleString('en-US')} · ranked by {label} · 1 = {named ? 'most Assistant-like' : 'highest'}</div>
      <div ref={boxRef} className="rank-scroll" onScroll={(e) => windowed && setScroll(e.currentTarget.scrollTop)}>
        <ol className="rank-list" aria-label="Ranked by projection on the axis" style={windowed ? { height: rows.length * ROW_H, position: 'relative' } : undefined}>
          {rows.slice(first, last).map((i, r) => (
            <li key={i} data-testid="axis-rank-row" className={`rank-row ${sel.has(a.names[i]) ? 'selected' : ''}`}
              style={windowed ? { position: 'absolute', top: (first + r) * ROW_H, left: 0, right: 0 } : undefined}
              onMouseEnter={() => onHover(i)} onMouseLeave={() => onHover(null)}>
              <button type="button" className="rank-button" aria-pressed={sel.has(a.names[i])} onClick={() => onToggle(a.names[i])}>
                <span className="rank-num">{a.rank[i]}</span>
                <span className="rank-name">{a.names[i]}{a.kinds[i] === 'trait' ? <span className="muted small-text"> trait</span> : null}</span>
                <span className="rank-val">{formatCoord(shownProjection(a, a.projection[i], ref_), sig)}</span>
              </button>
            </li>
          ))}
        </ol>
      </div>
    </div>
  );
}
