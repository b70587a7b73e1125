/**
 * Default | Steered | Capped, side by side, one input. A pane selects only its own messages, so a
 * token streamed into one pane re-renders that pane's last message and nothing else.
 */
import { memo, useEffect, useMemo, useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { colorAt, scalePosition, type DivergingDomain } from '../../core/view/colors';
import { PANES, PANE_COLOR, PANE_LABEL, type PaneId } from './api';
import { useChat, visibleMessages, type MessageView } from './store';

/** The heat scale at the monitored layer: centred on the role centroid, +-3 sd (or the default's distance), else on the values seen. */
export function useHeatDomain(): DivergingDomain {
  const k = useChat(useShallow((s) => {
    const L = s.settings?.monitorLayer ?? 0;
    const a = s.axis.summary;
    let lo = Infinity, hi = -Infinity;
    for (const t of s.turns) {
      const v = t.generated?.[L];
      if (v !== undefined && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    return { mean: a?.roleMean?.[L] ?? null, sd: a?.roleSd?.[L] ?? null, def: a?.defaultProjection?.[L] ?? null, lo, hi };
  }));
  return useMemo(() => {
    if (k.mean !== null && k.sd !== null) {
      const half = Math.max(3 * k.sd, k.def !== null ? 1.5 * Math.abs(k.def - k.mean) : 0, 1e-6);
      return { lo: k.mean - half, mid: k.mean, hi: k.mean + half };
    }
    if (Number.isFinite(k.lo)) {
      const mid = (k.lo + k.hi) / 2, half = Math.max((k.hi - k.lo) * 0.75, 1e-3);
      return { lo: mid - half, mid, hi: mid + half };
    }
    return { lo: -1, mid: 0, hi: 1 };
  }, [k.mean, k.sd, k.def, k.lo, k.hi]);
}

const Tokens = memo(function Tokens({ m, layer, heat, domain, mode }: { m: MessageView; layer: number; heat: boolean; domain: DivergingDomain; mode: 'generated' | 'read' }) {
  return (
    <>
      {m.tokens.map((t, i) => {
        if (!t) return null;
        const per = mode === 'read' && m.read ? m.read[i] : t.v;
        const v = per ? per[layer] : null;
        const has = v !== null && v !== undefined && Number.isFinite(v);
        return (
          <span key={i} className="tok" data-testid="tok" data-i={i} data-v={has ? v : undefined} data-c={t.clamped || undefined}
            style={heat && has ? { background: colorAt(scalePosition(v, domain)) } : undefined}
            title={has ? `token ${i + 1} · layer ${layer}: ${v.toFixed(3)}${t.clamped ? ` · cap raised ${t.clamped} layer${t.clamped === 1 ? '' : 's'}` : ''}` : undefined}>{t.text}</span>
        );
      })}
    </>
  );
});

const Message = memo(function Message({ pane, m, layer, heat, domain, mode, busy }: { pane: PaneId; m: MessageView; layer: number; heat: boolean; domain: DivergingDomain; mode: 'generated' | 'read'; busy: boolean }) {
  if (m.role === 'system') return <div className="chat-msg system" data-testid="msg-system"><span className="chat-role">system</span> {m.content}</div>;
  if (m.role === 'user') {
    return (
      <div className="chat-msg user" data-testid="msg-user" data-turn={m.index}>
        <span className="chat-role">you</span> <span className="chat-text">{m.content}</span>
        {pane === firstVisible() && !busy && (
          <button type="button" className="small chat-edit" data-testid="msg-edit" aria-label={`Edit your message ${m.index + 1} and regenerate from there`} onClick={() => useChat.getState().startEdit(m.index)}>Edit</button>
        )}
      </div>
    );
  }
  return (
    <div className={`chat-msg assistant ${m.streaming ? 'streaming' : ''}`} id={`chat-${pane}-turn-${m.index}`} data-testid="msg-assistant" data-turn={m.index} data-streaming={m.streaming || undefined} data-stop={m.stopReason}>
      <span className="chat-role">turn {m.index + 1}</span>{' '}
      <span className="chat-text">{m.tokens.length ? <Tokens m={m} layer={layer} heat={heat} domain={domain} mode={mode} /> : m.content}</span>
      {m.stopReason === 'interrupted' && <span className="muted small-text"> (stopped)</span>}
    </div>
  );
});

function firstVisible(): PaneId | null {
  const s = useChat.getState().settings;
  return PANES.find((p) => !s?.panes[p].hidden) ?? null;
}

export function Pane({ id }: { id: PaneId }) {
  const pane = useChat((s) => s.panes[id]);
  const p = useChat(useShallow((s) => ({
    hidden: s.settings?.panes[id].hidden ?? false, layer: s.settings?.monitorLayer ?? 0, heat: s.heat, busy: s.busy, focus: s.focus,
    mode: s.driftMode, steerAmount: s.settings?.panes.steered.steer?.amount ?? 0, steerUnit: s.settings?.panes.steered.steer?.unit ?? 'sd', capOn: !!s.settings?.panes.capped.cap,
  })));
  const domain = useHeatDomain();
  const box = useRef<HTMLDivElement>(null);
  // Follow the stream unless the person scrolled up.
  const stick = useRef(true);
  useEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [pane]);
  useEffect(() => {
    if (p.focus.token === 0) return;
    const el = box.current?.querySelector<HTMLElement>(`#chat-${id}-turn-${p.focus.turn}`);
    if (el && box.current) {
      stick.current = false;
      box.current.scrollTop = el.offsetTop - box.current.offsetTop - 8;
      el.classList.add('flash');
      setTimeout(() => el.classList.remove('flash'), 1200);
    }
  }, [p.focus, id]);
  if (p.hidden) return null;
  const sub = id === 'default' ? 'no intervention' : id === 'steered' ? `steer ${p.steerAmount > 0 ? '+' : ''}${p.steerAmount} ${p.steerUnit === 'sd' ? 'sd' : 'c'}` : p.capOn ? `capped · ${pane.clampedTotal.toLocaleString('en-US')} clamped` : 'cap off';
  return (
    <section className="chat-pane" data-testid={`pane-${id}`} aria-label={`${PANE_LABEL[id]} pane`} data-streaming={pane.streaming || undefined}>
      <header className="chat-pane-head" style={{ borderColor: PANE_COLOR[id] }}>
        <h3 style={{ color: PANE_COLOR[id] }}>{PANE_LABEL[id]}</h3>
        <span className="muted small-text">{sub}</span>
        <button type="button" className="small" data-testid={`pane-hide-${id}`} aria-label={`Hide the ${PANE_LABEL[id]} pane`} disabled={p.busy}
          onClick={() => useChat.getState().updateSettings({ panes: { [id]: { hidden: true } } })}>Hide</button>
      </header>
      <div className="chat-pane-body" ref={box} tabIndex={0} aria-live="off"
        onScroll={(e) => { const el = e.currentTarget; stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24; }}>
        {pane.messages.length === 0 && <p className="muted">Answers appear here.</p>}
        {pane.messages.map((m) => <Message key={m.key} pane={id} m={m} layer={p.layer} heat={p.heat} domain={domain} mode={p.mode} busy={p.busy} />)}
      </div>
    </section>
  );
}

export function Panes() {
  const hidden = useChat(useShallow((s) => PANES.filter((p) => s.settings?.panes[p].hidden)));
  const busy = useChat((s) => s.busy);
  return (
    <div className="chat-panes-wrap">
      {hidden.length > 0 && (
        <div className="chat-hidden-panes">
          {hidden.map((p) => (
            <button key={p} type="button" className="small" disabled={busy} data-testid={`pane-show-${p}`} onClick={() => void useChat.getState().showPane(p)}>Show {PANE_LABEL[p]}</button>
          ))}
        </div>
      )}
      <div className="chat-panes" style={{ gridTemplateColumns: `repeat(${Math.max(1, 3 - hidden.length)}, minmax(0, 1fr))` }}>
        {PANES.map((p) => <Pane key={p} id={p} />)}
      </div>
    </div>
  );
}

export function Composer() {
  const s = useChat(useShallow((st) => ({ input: st.input, busy: st.busy, activity: st.activity, ready: st.axis.status === 'ready', hasTurns: visibleMessages(st).some((m) => m.role === 'user'), editing: st.editing })));
  const a = useChat.getState();
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => { if (!s.busy) ref.current?.focus(); }, [s.busy]);
  if (s.editing) {
    return (
      <form className="chat-composer editing" data-testid="chat-edit-form" onSubmit={(e) => { e.preventDefault(); void a.submitEdit(); }}>
        <label className="field">
          <span>Edit your message {s.editing.index + 1}: everything after it is dropped and regenerated</span>
          <textarea rows={3} data-testid="chat-edit-input" value={s.editing.text} autoFocus onChange={(e) => a.setEditText(e.target.value)}
            onKeyDown={(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); void a.submitEdit(); } else if (e.key === 'Escape') a.cancelEdit(); }} />
        </label>
        <div className="chat-buttons">
          <button type="submit" className="primary" data-testid="chat-edit-submit">Regenerate from here</button>
          <button type="button" data-testid="chat-edit-cancel" onClick={a.cancelEdit}>Cancel</button>
        </div>
      </form>
    );
  }
  return (
    <form className="chat-composer" onSubmit={(e) => { e.preventDefault(); void a.send(); }}>
      <label className="visually-hidden" htmlFor="chat-input">Your message</label>
      <textarea id="chat-input" ref={ref} rows={2} data-testid="chat-input" value={s.input} disabled={!s.ready}
        placeholder={s.ready ? 'Type a message · Enter sends · Shift+Enter for a new line · Esc stops' : 'Load a model and an axis first'}
        onChange={(e) => a.setInput(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) { e.preventDefault(); void a.send(); }
          else if (e.key === 'Escape' && s.busy) { e.preventDefault(); void a.stop(); }
        }} />
      <div className="chat-buttons">
        <button type="submit" className="primary" data-testid="chat-send" disabled={!s.ready || s.busy || !s.input.trim()}>Send</button>
        <button type="button" className="danger" data-testid="chat-stop" disabled={!s.busy} onClick={() => void a.stop()}>Stop</button>
        <button type="button" data-testid="chat-undo" disabled={s.busy || !s.hasTurns} onClick={() => void a.undo()} title="Drop the last exchange; your text goes back in the box">Undo</button>
        <button type="button" data-testid="chat-reset" disabled={!s.ready} onClick={() => void a.reset()}>Reset</button>
        {s.busy && <span className="muted" role="status" data-testid="chat-activity">{s.activity}…</span>}
      </div>
    </form>
  );
}
