/** A titled chart panel with PNG/SVG export buttons (`export-png-<name>`, `export-svg-<name>`). */
import { useEffect, useState, type ReactNode } from 'react';

export interface ChartFrameProps {
  name: string;
  title: ReactNode;
  subtitle?: ReactNode;
  onExport(kind: 'png' | 'svg'): void;
  children: ReactNode;
  testId?: string;
  className?: string;
}

export function ChartFrame({ name, title, subtitle, onExport, children, testId, className }: ChartFrameProps) {
  // Any chart can fill the window (a projector, the back row); Esc or the button puts it back.
  const [big, setBig] = useState(false);
  useEffect(() => {
    if (!big) return;
    // Capture phase, and the event marked handled: Esc closes the enlarged chart and nothing else
    // (the explorer's Esc would otherwise also unpin the selection).
    const onKey = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.preventDefault(); setBig(false); } };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  }, [big]);
  return (
    <section className={`panel chart ${className ?? ''} ${big ? 'enlarged' : ''}`} data-testid={testId} aria-label={typeof title === 'string' ? title : name}>
      <header className="panel-head">
        <h2>{title}</h2>
        <div className="export-buttons">
          <button type="button" className="small" data-testid={`enlarge-${name}`} aria-pressed={big} onClick={() => setBig(!big)} title={big ? 'Back to the page (Esc)' : 'Fill the window'}>{big ? 'Close' : 'Enlarge'}</button>
          <button type="button" className="small" data-testid={`export-png-${name}`} onClick={() => onExport('png')} title={`Download ${name} as PNG`}>PNG</button>
          <button type="button" className="small" data-testid={`export-svg-${name}`} onClick={() => onExport('svg')} title={`Download ${name} as SVG`}>SVG</button>
        </div>
      </header>
      {subtitle && <p className="panel-sub">{subtitle}</p>}
      {children}
    </section>
  );
}
