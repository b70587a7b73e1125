/** CSV/JSON of what the map shows, and a share link that restores the view. */
import { useState } from 'react';
import { buildCsv, buildJson } from '../../../core/view/export-table';
import { shareUrl } from '../../../core/view/share-link';
import { downloadText } from '../../charts/export-utils';
import { currentView, useStore } from '../store';

/** File names say the layer only for sets that have layers (a single-layer set has no "layer 0"). */
export function baseName(label: string, layer: number | null): string {
  return `persona-space-${label.replace(/[^\w.-]+/g, '_').replace(/_+$/, '').slice(0, 40)}${layer === null ? '' : `-layer${layer}`}`;
}

export function ExportPanel() {
  const a = useStore((s) => s.analysis);
  const info = useStore((s) => s.setA);
  const [link, setLink] = useState('');
  const [copied, setCopied] = useState<string | null>(null);
  if (!a || !info) return null;
  const layer = info.layers === null ? null : a.layer;
  const share = async () => {
    const url = shareUrl(location.href, currentView(useStore.getState()));
    setLink(url);
    history.replaceState(null, '', url);
    try {
      await navigator.clipboard.writeText(url);
      setCopied('Copied to the clipboard.');
    } catch {
      setCopied('Select the link and copy it.');
    }
  };
  return (
    <div className="export">
      <div className="load-row wrap">
        <button type="button" data-testid="export-csv" onClick={() => downloadText(buildCsv(a), `${baseName(info.label, layer)}.csv`, 'text/csv')}>CSV</button>
        <button type="button" data-testid="export-json" onClick={() => downloadText(JSON.stringify({ ...buildJson(a, info), layer }, null, 1), `${baseName(info.label, layer)}.json`, 'application/json')}>JSON</button>
        <button type="button" data-testid="share-link" onClick={() => void share()}>Share link</button>
      </div>
      <input type="text" readOnly data-testid="share-url" value={link} placeholder="The link appears here" aria-label="Share link" onFocus={(e) => e.currentTarget.select()} />
      {copied && <div className="muted small-text" aria-live="polite">{copied}{!info.sourceUrl ? ' These vectors came from local files: whoever opens the link loads the same files to see this view.' : ''}</div>}
    </div>
  );
}
