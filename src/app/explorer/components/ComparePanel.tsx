/** Compare with a second set: PC1 of A against PC1 of B over shared names, Pearson and Spearman. */
import { useEffect, useRef, useState } from 'react';
import { RELEASE_MODELS } from '../../../core/hub';
import { format3 } from '../../../core/view/format';
import { ChartFrame } from '../../charts/ChartFrame';
import { CompareScatter } from '../charts/CompareScatter';
import { exportChart } from '../../charts/export-utils';
import { useStore } from '../store';
import { filesFromList } from './files';
import { LoadError, ProgressLine } from './LoadPanel';
import { SetName } from './SetName';

export function ComparePanel() {
  const setA = useStore((s) => s.setA);
  const setB = useStore((s) => s.setB);
  const loadB = useStore((s) => s.loadB);
  const compare = useStore((s) => s.compare);
  const compareError = useStore((s) => s.compareError);
  const loadFiles = useStore((s) => s.loadFiles);
  const loadUrl = useStore((s) => s.loadUrl);
  const cancel = useStore((s) => s.cancelLoad);
  const unloadB = useStore((s) => s.unloadB);
  const layerB = useStore((s) => s.compareLayerB);
  const setLayerB = useStore((s) => s.setCompareLayerB);
  const [url, setUrl] = useState('');
  const [open, setOpen] = useState(false);
  const ref = useRef<SVGSVGElement>(null);
  // A new set B closes the loading options.
  useEffect(() => { setOpen(false); }, [setB?.id]);
  if (!setA) return null;
  return (
    <ChartFrame name="compare" testId="compare" title="Compare two sets" className="compare-panel"
      onExport={(k) => void exportChart(ref.current, 'compare', k)}
      subtitle="Load a second set (for example another model with the same roles): PC1 of A against PC1 of B over the names they share. The paper reports correlations above 0.92 between models.">
      <button type="button" className={open || setB ? 'active' : 'primary'} data-testid="compare-load" aria-expanded={open} onClick={() => setOpen(!open)}>
        {setB ? 'Change set B…' : 'Load set B…'}
      </button>
      <div className="compare-load" hidden={!open && !loadB.busy && !loadB.error}>
        <label className="button">
          Set B: files…
          <input type="file" multiple data-testid="compare-file-input" className="visually-hidden"
            onChange={(e) => { const f = filesFromList(e.currentTarget.files); e.currentTarget.value = ''; void loadFiles(f, 'compare', 'B'); }} />
        </label>
        <label className="button">
          Set B: folder…
          <input type="file" data-testid="compare-folder-input" className="visually-hidden" {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
            onChange={(e) => { const f = filesFromList(e.currentTarget.files); e.currentTarget.value = ''; void loadFiles(f, 'compare', 'B'); }} />
        </label>
        <form className="url-row" onSubmit={(e) => { e.preventDefault(); void loadUrl(url, 'compare', 'B'); }}>
          <input type="url" placeholder="or a URL for set B" value={url} onChange={(e) => setUrl(e.target.value)} aria-label="URL of set B" data-testid="compare-url-input" />
          <button type="submit">Load B</button>
        </form>
        <div className="load-row wrap">
          {RELEASE_MODELS.map((m) => (
            <button key={m.id} type="button" className="small" data-testid={`compare-release-${m.id}`} disabled={loadB.busy}
              onClick={() => void loadUrl(`release:${m.id}`, 'compare', 'B')}>{m.label}</button>
          ))}
        </div>
      </div>
      <ProgressLine load={loadB} onCancel={() => cancel('B')} testId="compare-progress" cancelId="compare-cancel" />
      <LoadError load={loadB} origins={['compare', 'files', 'url', 'release']} />
      {setB && (
        <div className="compare-b">
          <span>B: <SetName slot="B" /> · {setB.count} members</span>
          {setB.layers !== null && setB.layers > 1 && (
            <label className="field inline">layer of B
              <input type="number" min={0} max={setB.layers - 1} value={layerB} onChange={(e) => void setLayerB(Number(e.target.value))} style={{ width: '5em' }} />
            </label>
          )}
          <button type="button" className="small" onClick={unloadB}>Remove B</button>
        </div>
      )}
      {compareError && <p className="error" role="alert">{compareError}</p>}
      {compare && (
        <>
          <p className="compare-numbers">
            <span>{compare.nCommon} shared names</span>
            <span>Pearson <strong data-testid="compare-pearson">{format3(compare.pearson)}</strong></span>
            <span>Spearman <strong data-testid="compare-spearman">{format3(compare.spearman)}</strong></span>
          </p>
          {compare.nCommon < 3 && <p className="error">The two sets share fewer than three names, so there is nothing to correlate.</p>}
          <div data-testid="compare-scatter">
            <CompareScatter ref={ref} result={compare}
              labelA={`${setA.label}${setA.layers === null ? '' : ` (layer ${compare.layerA})`}`}
              labelB={`${setB?.label ?? 'B'}${!setB || setB.layers === null ? '' : ` (layer ${compare.layerB})`}`} />
          </div>
        </>
      )}
    </ChartFrame>
  );
}
