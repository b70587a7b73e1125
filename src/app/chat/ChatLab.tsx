/**
 * The chat lab (issue #9): chat with a model, steer it and cap it with sliders, watch it drift.
 * Left: model, axis, steering, capping, sampling, presets, export. Right: the three panes, one
 * input, the drift lane. Opens by itself on a `#lab=chat...` link (a share link restores here).
 */
import { useEffect } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { AxisPicker } from './AxisPicker';
import { CapControls, SamplingControls, SteerControls, SystemPrompt } from './Controls';
import { DriftLane } from './DriftLane';
import { ModelPicker } from './ModelPicker';
import { Composer, Panes } from './Panes';
import { ExportShare, PresetBanner, Presets } from './Presets';
import { decodeChatLink } from './share';
import { useChat } from './store';
import { modelFromKey } from './models';
import './chat.css';

/** Apply a chat share link: remember what it holds, then load its model (the rest follows when model and axis are ready). */
export function applyChatHash(hash: string): boolean {
  const link = decodeChatLink(hash);
  if (!link) return false;
  const st = useChat.getState();
  st.setPending(link);
  const model = link.model ? modelFromKey(link.model) : null;
  if (model) void st.loadModel(model);
  return true;
}

function Section({ title, children, testId }: { title: string; children: React.ReactNode; testId?: string }) {
  return (
    <section className="panel chat-section" data-testid={testId}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function ChatLab() {
  const s = useChat(useShallow((st) => ({ modelReady: st.model.status === 'ready', axisReady: st.axis.status === 'ready', error: st.error, pending: st.pending, axisStatus: st.axis.status })));
  useEffect(() => {
    if (location.hash) applyChatHash(location.hash);
    const onHash = () => applyChatHash(location.hash);
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  return (
    <section data-testid="chat-lab" className="lab chat-lab">
      <aside className="chat-side">
        <Section title="Model" testId="chat-section-model"><ModelPicker /></Section>
        <Section title="Axis" testId="chat-section-axis"><AxisPicker /></Section>
        {s.axisReady && (
          <>
            <Section title="Steered pane" testId="chat-section-steer"><SteerControls /></Section>
            <Section title="Capped pane" testId="chat-section-cap"><CapControls /></Section>
            <Section title="Sampling"><SamplingControls /></Section>
          </>
        )}
        <Section title="The paper's conversations"><Presets /></Section>
        {s.axisReady && <Section title="Export & share"><ExportShare /></Section>}
      </aside>
      <main className="chat-main">
        {s.pending && s.modelReady && s.axisStatus !== 'ready' && (
          <div className="notice" role="status" data-testid="chat-pending">This link's settings{s.pending.conversation ? ' and conversation' : ''} are restored once the axis ({s.pending.axis?.replace(/^file:/, '') ?? 'the same one'}) is loaded.</div>
        )}
        <PresetBanner />
        {s.axisReady && <SystemPrompt />}
        <Panes />
        <Composer />
        {s.error && (
          <p className="error" role="alert" data-testid="chat-error">{s.error} <button type="button" className="small" onClick={() => useChat.getState().clearError()}>Dismiss</button></p>
        )}
        <DriftLane />
        <HeatToggle />
      </main>
    </section>
  );
}

function HeatToggle() {
  const heat = useChat((st) => st.heat);
  return (
    <label className="check chat-heat-toggle">
      <input type="checkbox" data-testid="chat-heat" checked={heat} onChange={(e) => useChat.getState().setHeat(e.target.checked)} />
      Colour each token by its projection at the monitored layer (the map's scale: orange = role-play, purple = Assistant; hover a token for its value)
    </label>
  );
}
