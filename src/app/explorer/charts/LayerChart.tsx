/**
 * cos(axis, PC1..PC3) per layer (left scale, 0–1) and the axis norm per layer (right scale), with
 * the current layer marked; clicking a layer selects it.
 */
import { forwardRef } from 'react';
import type { LayerProfile } from '../../../core/view/types';

export interface LayerChartProps {
  profile: LayerProfile;
  layer: number;
  onPick(layer: number): void;
  width?: number;
  height?: number;
}

const COLORS = ['#4b2a85', '#c26b00', '#2f7d6b'];

export const LayerChart = forwardRef<SVGSVGElement, LayerChartProps>(function LayerChart({ profile, layer, onPick, width = 440, height = 270 }, ref) {
  const m = { top: 48, right: 50, bottom: 36, left: 40 };
  const iw = width - m.left - m.right, ih = height - m.top - m.bottom;
  const L = profile.layers;
  const x = (l: number) => m.left + (L <= 1 ? iw / 2 : (l / (L - 1)) * iw);
  const y = (v: number) => m.top + ih - Math.max(0, Math.min(1, v)) * ih;
  const maxNorm = Math.max(1e-9, ...profile.norm.filter(Number.isFinite));
  const yn = (v: number) => m.top + ih - (v / maxNorm) * ih;
  const line = (vals: number[], f: (v: number) => number) => vals.map((v, l) => (Number.isFinite(v) ? `${x(l)},${f(v)}` : '')).filter(Boolean).join(' ');
  const xticks = Array.from(new Set([0, Math.round((L - 1) / 4), Math.round((L - 1) / 2), Math.round((3 * (L - 1)) / 4), L - 1]));
  const pick = (e: React.MouseEvent<SVGRectElement>) => {
    const r = e.currentTarget.getBoundingClientRect();
    const t = (e.clientX - r.left) / r.width;
    onPick(Math.round(t * (L - 1)));
  };
  return (
    <svg ref={ref} viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label="cos(axis, PC) and axis norm per layer" fontFamily="system-ui, sans-serif">
      <rect width={width} height={height} fill="#ffffff" />
      {[0, 0.5, 1].map((t) => (
        <g key={t}>
          <line x1={m.left} x2={width - m.right} y1={y(t)} y2={y(t)} stroke="#e4e1da" />
          <text x={m.left - 6} y={y(t) + 4} fontSize="13" textAnchor="end" fill="#555">{t.toFixed(1)}</text>
        </g>
      ))}
      {[0, 0.5, 1].map((t) => (
        <text key={`n${t}`} x={width - m.right + 6} y={yn(t * maxNorm) + 4} fontSize="13" fill="#777">{(t * maxNorm).toPrecision(3)}</text>
      ))}
      {xticks.map((l) => (
        <text key={l} x={x(l)} y={height - m.bottom + 18} fontSize="13" textAnchor="middle" fill="#333">{l}</text>
      ))}
      <text x={m.left + iw / 2} y={height - 2} fontSize="12" textAnchor="middle" fill="#555">layer</text>
      <line x1={x(layer)} x2={x(layer)} y1={m.top} y2={m.top + ih} stroke="#0a58ca" strokeWidth="2" />
      <polyline points={line(profile.norm, yn)} fill="none" stroke="#999" strokeWidth="2" strokeDasharray="5 4" />
      {[0, 1, 2].map((j) => (
        <polyline key={j} points={line(profile.cos.map((c) => c[j] ?? NaN), y)} fill="none" stroke={COLORS[j]} strokeWidth={j === 0 ? 3 : 2} />
      ))}
      <g fontSize="13">
        {['cos(axis, PC1)', 'cos(axis, PC2)', 'cos(axis, PC3)', '|axis| (right scale)'].map((t, j) => (
          <g key={t} transform={`translate(${m.left + (j % 2) * 190}, ${16 + Math.floor(j / 2) * 18})`}>
            <line x1="0" x2="18" y1="-4" y2="-4" stroke={j < 3 ? COLORS[j] : '#999'} strokeWidth={j === 0 ? 3 : 2} strokeDasharray={j === 3 ? '5 4' : undefined} />
            <text x="24" y="0" fill="#222">{t}</text>
          </g>
        ))}
      </g>
      <rect data-export="skip" x={m.left} y={m.top} width={iw} height={ih} fill="transparent" style={{ cursor: 'pointer' }} onClick={pick}>
        <title>Click to show this layer</title>
      </rect>
    </svg>
  );
});
