/** Scree chart: explained variance of each computed component, labelled "27.6 %". */
import { forwardRef } from 'react';
import { formatPercent } from '../../../core/view/format';

export interface ScreeProps {
  explained: number[];
  width?: number;
  height?: number;
}

export const Scree = forwardRef<SVGSVGElement, ScreeProps>(function Scree({ explained, width = 400, height = 270 }, ref) {
  const m = { top: 28, right: 10, bottom: 34, left: 44 };
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const max = Math.max(0.05, ...explained);
  const top = Math.ceil(max * 10) / 10;
  const bw = iw / Math.max(1, explained.length);
  const y = (v: number) => m.top + ih - (v / top) * ih;
  const ticks = [0, top / 2, top];
  let cum = 0;
  const cumPts = explained.map((v, i) => { cum += v; return [m.left + bw * (i + 0.5), cum]; });
  return (
    <svg ref={ref} viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label="Explained variance per component" fontFamily="system-ui, sans-serif">
      <rect width={width} height={height} fill="#ffffff" />
      {ticks.map((t) => (
        <g key={t}>
          <line x1={m.left} x2={width - m.right} y1={y(t)} y2={y(t)} stroke="#e4e1da" />
          <text x={m.left - 6} y={y(t) + 4} fontSize="12" textAnchor="end" fill="#555">{Math.round(t * 100)}%</text>
        </g>
      ))}
      {explained.map((v, i) => (
        <g key={i}>
          <rect x={m.left + bw * i + bw * 0.15} width={bw * 0.7} y={y(v)} height={m.top + ih - y(v)} fill={i === 0 ? '#4b2a85' : '#8c7bb8'}>
            <title>{`PC${i + 1}: ${formatPercent(v)} of the variance`}</title>
          </rect>
          <text x={m.left + bw * (i + 0.5)} y={y(v) - 5} fontSize={explained.length > 8 ? 11 : 13} textAnchor="middle" fill="#222" fontWeight={i === 0 ? 'bold' : 'normal'}>{formatPercent(v)}</text>
          <text x={m.left + bw * (i + 0.5)} y={height - m.bottom + 18} fontSize="12" textAnchor="middle" fill="#333">PC{i + 1}</text>
        </g>
      ))}
      {cumPts.length > 1 && (
        <polyline points={cumPts.map(([px, c]) => `${px},${y(Math.min(c, top))}`).join(' ')} fill="none" stroke="#c26b00" strokeWidth="1.5" strokeDasharray="4 3" opacity={cum <= top ? 1 : 0} />
      )}
      <text x={m.left} y={16} fontSize="13" fill="#333">Explained variance (share of the total)</text>
    </svg>
  );
});
