/** The paper's drift conversations and case studies: replay their user turns, or read a whole transcript. Export and share. */
import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { CREDIT } from '../../core/data/assistant-axis-data';
import { downloadText } from '../charts/export-utils';
import { PANES } from './api';
import { encodeChatLink } from './share';
import { currentAxis, useChat, visibleMessages } from './store';
import { modelKey } from './models';

export function Presets() {
  const s = useChat(useShallow((st) => ({ presets: st.presets, busy: st.busy, ready: st.axis.status === 'ready', preset: st.preset })));
  const [pick, setPick] = useState('');
  useEffect(() => { if (s.ready && s.presets === null) void useChat.getState().listPresets(); }, [s.ready, s.presets]);
  if (!s.ready) return <p className="muted">Load a model and an axis to replay the paper's conversations.</p>;
  const list = s.presets ?? [];
  const id = pick || list[0]?.id || '';
  return (
    <div className="chat-presets" data-testid="chat-presets">
      <label className="field">
        <span>Conversation</span>
        <select value={id} data-testid="chat-preset-select" onChange={(e) => setPick(e.target.value)} disabled={s.busy || list.length === 0}>
          {list.map((p) => <option key={p.id} value={p.id}>{p.kind === 'drift' ? 'Drift: ' : 'Case study: '}{p.title}</option>)}
        </select>
      </label>
      <div className="load-row wrap">
        <button type="button" data-testid="chat-preset-replay" disabled={s.busy || !id} onClick={() => void useChat.getState().replayPreset(id)}
          title="Send the paper's user turns one by one; the answers are this model's">Replay user turns</button>
        <button type="button" data-testid="chat-preset-read" disabled={s.busy || !id} onClick={() => void useChat.getState().readPreset(id)}
          title="Feed the whole transcript (the paper's answers included) and plot how this model reads it; nothing is generated">Read this transcript</button>
      </div>
      <p className="muted small-text">User turns from the paper; the answers are this model's. {CREDIT}.</p>
    </div>
  );
}

export function PresetBanner() {
  const p = useChat((st) => st.preset);
  if (!p) return null;
  return (
    <div className="notice chat-preset-banner" data-testid="chat-preset-banner" role="status">
      <strong>{p.title}</strong> — {p.label}. <span className="muted small-text">{p.credit}</span>
    </div>
  );
}

export function shareLink(): string {
  const s = useChat.getState();
  const userTurns = visibleMessages(s).filter((m) => m.role === 'user').map((m) => m.content);
  const hash = encodeChatLink({ model: modelKey(s.model.request), axisSource: s.axis.source, axis: currentAxis(), settings: s.settings, userTurns });
  return `${location.href.split('#')[0]}#${hash}`;
}

export function ExportShare() {
  const s = useChat(useShallow((st) => ({ ready: st.axis.status === 'ready', busy: st.busy, linkable: st.model.request?.kind !== 'folder', hasTurns: st.turns.length > 0, axisSource: st.axis.source })));
  const [link, setLink] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  if (!s.ready) return null;
  const fileAxis = s.axisSource?.startsWith('file:') && (currentAxis()?.length ?? Infinity) > 4096;
  return (
    <div className="chat-export" data-testid="chat-export">
      <div className="load-row wrap">
        <button type="button" data-testid="chat-export-json" disabled={s.busy} onClick={async () => {
          const data = await useChat.getState().exportJson();
          downloadText(JSON.stringify(data, (_k, v) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v), 1), 'persona-space-chat.json', 'application/json');
        }}>Conversation JSON</button>
        <button type="button" data-testid="chat-share" disabled={!s.linkable} onClick={async () => {
          const l = shareLink();
          setLink(l);
          try { await navigator.clipboard.writeText(l); setCopied(true); } catch { setCopied(false); }
        }}>Share link</button>
      </div>
      {!s.linkable && <p className="muted small-text">A model from a local folder cannot be put in a link.</p>}
      {link && (
        <div className="small-text">
          <input type="text" readOnly value={link} data-testid="chat-share-url" onFocus={(e) => e.currentTarget.select()} aria-label="Share link" />
          <span className="muted">{copied ? ' Copied.' : ''} Restores the model, {fileAxis ? 'the settings (open the same axis file again)' : 'the axis, the settings'}{PANES.length && s.hasTurns ? ' and the conversation when it is short' : ''}.</span>
        </div>
      )}
    </div>
  );
}
