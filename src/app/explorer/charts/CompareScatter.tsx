/** PC1 loadings of set A (x) against set B (y) over their shared names. */
import { forwardRef } from 'react';
import type { CompareResult } from '../../../core/view/types';

export interface CompareScatterProps {
  result: CompareResult;
  /** Axis titles, e.g. "Llama 3.3 70B (layer 40)". */
  labelA: string;
  labelB: string;
  width?: number;
  height?: number;
}

export const CompareScatter = forwardRef<SVGSVGElement, CompareScatterProps>(function CompareScatter({ result, labelA, labelB, width = 460, height = 360 }, ref) {
  const m = { top: 34, right: 16, bottom: 50, left: 74 };
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const ext = (v: number[]) => {
    let lo = Math.min(...v), hi = Math.max(...v);
    if (!(hi > lo)) { lo -= 1; hi += 1; }
    const p = (hi - lo) * 0.05;
    return [lo - p, hi + p];
  };
  const [xa, xb] = ext(result.pc1A), [ya, yb] = ext(result.pc1B);
  const x = (v: number) => m.left + ((v - xa) / (xb - xa)) * iw;
  const y = (v: number) => m.top + ih - ((v - ya) / (yb - ya)) * ih;
  const r = result.names.length > 1000 ? 1.8 : 3.5;
  // Least-squares line of B on A, as a guide for the eye.
  const n = result.pc1A.length;
  const ma = result.pc1A.reduce((s, v) => s + v, 0) / (n || 1), mb = result.pc1B.reduce((s, v) => s + v, 0) / (n || 1);
  let sab = 0, saa = 0;
  for (let i = 0; i < n; i++) { sab += (result.pc1A[i] - ma) * (result.pc1B[i] - mb); saa += (result.pc1A[i] - ma) ** 2; }
  const slope = saa > 0 ? sab / saa : 0;
  const fit = (v: number) => mb + slope * (v - ma);
  return (
    <svg ref={ref} viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label="PC1 of set A against PC1 of set B" fontFamily="system-ui, sans-serif">
      <rect width={width} height={height} fill="#ffffff" />
      <rect x={m.left} y={m.top} width={iw} height={ih} fill="none" stroke="#ccc" />
      {xa < 0 && xb > 0 && <line x1={x(0)} x2={x(0)} y1={m.top} y2={m.top + ih} stroke="#e4e1da" />}
      {ya < 0 && yb > 0 && <line x1={m.left} x2={m.left + iw} y1={y(0)} y2={y(0)} stroke="#e4e1da" />}
      {[xa + (xb - xa) * 0.05, (xa + xb) / 2, xb - (xb - xa) * 0.05].map((v) => (
        <text key={`x${v}`} x={x(v)} y={m.top + ih + 16} fontSize="12" textAnchor="middle" fill="#555">{v.toFixed(2)}</text>
      ))}
      {[ya + (yb - ya) * 0.05, (ya + yb) / 2, yb - (yb - ya) * 0.05].map((v) => (
        <text key={`y${v}`} x={m.left - 5} y={y(v) + 4} fontSize="12" textAnchor="end" fill="#555">{v.toFixed(2)}</text>
      ))}
      {n >= 3 && (
        <>
          <clipPath id="compare-clip"><rect x={m.left} y={m.top} width={iw} height={ih} /></clipPath>
          <line x1={x(xa)} y1={y(fit(xa))} x2={x(xb)} y2={y(fit(xb))} stroke="#c26b00" strokeWidth="1.5" strokeDasharray="6 4" clipPath="url(#compare-clip)" />
        </>
      )}
      {result.names.map((name, i) => (
        <circle key={name} cx={x(result.pc1A[i])} cy={y(result.pc1B[i])} r={r} fill="#4b2a85" fillOpacity="0.6">
          <title>{`${name}: A ${result.pc1A[i].toFixed(3)}, B ${result.pc1B[i].toFixed(3)}`}</title>
        </circle>
      ))}
      <text x={m.left + iw / 2} y={height - 8} fontSize="13" textAnchor="middle" fill="#222">{`PC1 of A: ${labelA}`}</text>
      <text x={16} y={m.top + ih / 2} fontSize="13" textAnchor="middle" fill="#222" transform={`rotate(-90 16 ${m.top + ih / 2})`}>{`PC1 of B: ${labelB}`}</text>
      <text x={m.left} y={20} fontSize="14" fill="#111" fontWeight="bold">{`Pearson ${result.pearson.toFixed(3)} · Spearman ${result.spearman.toFixed(3)} · ${result.nCommon} shared`}</text>
    </svg>
  );
});
