/** A set's name, editable in place (click, type, Enter; Esc gives up): the name the charts and files use. */
import { useState } from 'react';
import { useStore } from '../store';
import type { Slot } from '../../../../workers/analysis-client';

export function SetName({ slot }: { slot: Slot }) {
  const label = useStore((s) => (slot === 'A' ? s.setA?.label : s.setB?.label) ?? '');
  const rename = useStore((s) => s.renameSet);
  const [editing, setEditing] = useState<string | null>(null);
  if (editing !== null) {
    return (
      <form className="set-name-edit" onSubmit={(e) => { e.preventDefault(); rename(slot, editing); setEditing(null); }}>
        <input type="text" autoFocus aria-label={`Name of set ${slot}`} data-testid={`set-name-input-${slot}`} value={editing} maxLength={200}
          onChange={(e) => setEditing(e.target.value)}
          onKeyDown={(e) => { if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setEditing(null); } }}
          onBlur={() => { rename(slot, editing); setEditing(null); }} />
      </form>
    );
  }
  return (
    <button type="button" className="set-label link-plain" data-testid={`set-name-${slot}`} title={`${label} — click to rename`} onClick={() => setEditing(label)}>
      {label} <span aria-hidden="true" className="pencil">✎</span>
    </button>
  );
}
