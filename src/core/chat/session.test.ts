import { beforeAll, describe, expect, it } from 'vitest';
import { projectSequence, type LmEngine } from '../lm/generate';
import { forwardConversation } from './conversation.testkit';
import { referenceForward } from '../lm/reference';
import { Pcg32 } from '../lm/sampling';
import type { AxisBundle } from '../persona/axis-bundle';
import { axisBundleFromTensor, paneFeeds, resolvePane } from './axis';
import { ChatSession } from './session';
import { templatedChat } from './spans';
import { testChatModel, type TestChatModel } from './model.testkit';
import type { ChatEvent, ChatSnapshot, PaneId } from './types';

function randomAxis(L: number, d: number, seed: number): Float32Array {
  const r = new Pcg32(seed);
  return new Float32Array(L * d).map(() => r.float() - 0.5);
}

function withStats(b: AxisBundle): AxisBundle {
  const L = b.numLayers;
  return { ...b, roleStats: { mean: new Float64Array(L).fill(-1), sd: Float64Array.from({ length: L }, (_, l) => 0.5 + l * 0.25) } };
}

/** Independent: per message, mean over its content positions of resid_post[L] . axis[L]/|axis[L]| from one full forward of `ids`. */
async function reference(t: TestChatModel, b: AxisBundle, ids: number[], spans: [number, number][], pane: Parameters<typeof resolvePane>[1] | null): Promise<(number[] | null)[]> {
  const feeds = pane ? paneFeeds(b, resolvePane(b, pane)) : {};
  const r = await t.engine.forward(ids, feeds);
  const proj = projectSequence(r, t.config, b.axis)!;
  return spans.map(([s, e]) => {
    if (e <= s) return null;
    const acc = new Float64Array(t.config.numLayers);
    for (let p = s; p < e; p++) proj[p].forEach((v, l) => (acc[l] += v));
    return Array.from(acc, (x) => x / (e - s));
  });
}

function expectClose(a: readonly number[] | null, b: readonly number[] | null, tol = 1e-5) {
  expect(a).not.toBeNull();
  expect(b).not.toBeNull();
  expect(a!.length).toBe(b!.length);
  a!.forEach((x, i) => expect(Math.abs(x - b![i])).toBeLessThan(tol * Math.max(1, Math.abs(b![i]))));
}

async function checkPaneAgainstReference(t: TestChatModel, session: ChatSession, snap: ChatSnapshot, pane: PaneId) {
  const ps = snap.panes[pane]!;
  const settings = snap.settings.panes[pane];
  // The pane's ids are the model's template over its messages (answers keep the ids they were
  // generated as, which may not be the text's own tokenization); spans are the content tokens.
  const chat = templatedChat(t.tokenizer, ps.messages.map((m) => ({ role: m.role, content: m.content, ...(m.role === 'assistant' ? { ids: m.tokens.map((x) => x.id) } : {}) })), { addGenerationPrompt: false });
  expect(ps.ids).toEqual(chat.ids);
  expect(ps.messages.map((m) => m.span)).toEqual(chat.spans);
  const gen = await reference(t, session.axis, ps.ids, chat.spans, settings);
  const read = await reference(t, session.axis, ps.ids, chat.spans, null);
  const lastAnswer = ps.messages.map((m) => m.role).lastIndexOf('assistant');
  ps.messages.forEach((m, i) => {
    if (m.span[1] <= m.span[0]) return;
    // An earlier answer keeps its values as generated, in the context it was generated in (a
    // template may rewrite it later: Qwen3 drops the empty think block of past answers); it was
    // checked in the snapshot taken right after it.
    if (m.role !== 'assistant' || i === lastAnswer) {
      if (!m.generated) throw new Error(`${pane}: message ${i} (${m.role}) has no values`);
      expectClose(m.generated.mean, gen[i]);
    }
    expectClose(m.read!.mean, read[i]);
  });
}

describe.each([
  ['the engine\'s batched, cache-keeping conversation', (e: LmEngine, rows: number) => e.conversation(rows)],
  ['the no-cache reference conversation', forwardConversation],
] as const)('chat session on the synthetic model, over %s', (_name, conversation) => {
  let t: TestChatModel;
  let bundle: AxisBundle;
  beforeAll(async () => {
    t = await testChatModel('synthetic', { conversation });
    bundle = withStats(axisBundleFromTensor(randomAxis(4, 32, 9), t.config, 'random axis'));
  });

  it('three panes answer one user stream; per-turn values equal the mean over content tokens of an independent forward, generated and as read', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 6 }, system: 'Be brief.', panes: { steered: { steer: { layers: [1, 2], amount: 2, unit: 'sd' } }, capped: { cap: { layers: [2, 3], threshold: { kind: 'fixed', tau: 0.5 } } } } });
    const events: ChatEvent[] = [];
    await s.send('Who are you?', (e) => events.push(e));
    const snap = await s.send('Tell me more.', (e) => events.push(e));
    for (const p of ['default', 'steered', 'capped'] as const) {
      const ps = snap.panes[p]!;
      expect(ps.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
      await checkPaneAgainstReference(t, s, snap, p);
      // Value events carry the own-position values of each answer token.
      const vals = events.filter((e) => e.kind === 'value' && e.pane === p && e.turn === 1) as Extract<ChatEvent, { kind: 'value' }>[];
      const last = ps.messages[4];
      expect(vals.length).toBe(last.tokens.length);
      vals.forEach((v, k) => Array.from(v.projections).forEach((x, l) => expect(x).toBeCloseTo(last.generated!.perToken[k][l], 5)));
    }
    // The Default pane reads its own text exactly as it generated it.
    const d = snap.panes.default!.messages[4];
    expectClose(d.generated!.mean, d.read!.mean);
    // Steering moved the steered pane's layer-1 value; the cap floor holds at capped layers.
    const c = snap.panes.capped!.messages[4];
    for (const row of c.generated!.perToken) for (const l of [2, 3]) expect(row[l]).toBeGreaterThanOrEqual(0.5 - 1e-4);
    expect(snap.panes.capped!.clampedTotal).toBeGreaterThan(0);
    expect(snap.panes.default!.clampedTotal).toBe(0);
  });

  it('undo drops the last exchange and gives the text back; edit regenerates from a user turn; reset empties', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 4 } });
    const first = await s.send('One');
    await s.send('Two');
    const u = s.undo();
    expect(u.userText).toBe('Two');
    expect(u.snapshot.panes.default!.messages.map((m) => m.content)).toEqual(first.panes.default!.messages.map((m) => m.content));
    const again = await s.send('Two');
    const edited = await s.edit(0, 'Uno');
    expect(edited.panes.steered!.messages.filter((m) => m.role === 'user').map((m) => m.content)).toEqual(['Uno']);
    await checkPaneAgainstReference(t, s, edited, 'default');
    expect(again.panes.default!.messages).toHaveLength(4);
    expect(s.reset().panes.default).toBeNull();
    expect(() => s.undo()).toThrow(/nothing to undo/);
  });

  it('reads a transcript without generating: every message has values, through each pane and through the unmodified model', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ panes: { capped: { cap: { layers: [3], threshold: { kind: 'fixed', tau: 1 } } }, steered: { hidden: true } } });
    const snap = await s.readTranscript([
      { role: 'user', content: 'I feel lost.' },
      { role: 'assistant', content: 'I am here to help.' },
      { role: 'user', content: 'Are you conscious?' },
      { role: 'assistant', content: 'I am a language model.' },
    ]);
    expect(snap.panes.steered).toBeNull();
    await checkPaneAgainstReference(t, s, snap, 'default');
    await checkPaneAgainstReference(t, s, snap, 'capped');
  });

  it('a hidden pane does not answer; stop ends an answer early and the session stays usable', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 40 }, panes: { capped: { hidden: true } } });
    let n = 0;
    const snap = await s.send('Go on', (e) => {
      if (e.kind === 'token' && ++n === 3) s.stop();
    });
    expect(snap.panes.capped).toBeNull();
    const a = snap.panes.default!.messages[1];
    expect(a.stopReason).toBe('interrupted');
    const after = await s.send('Again');
    expect(after.panes.default!.messages).toHaveLength(4);
  });

  it('a pane shown again answers the turns it missed (catch-up, or at the next send): no gap, the same answers as an unhidden pane', async () => {
    const s = new ChatSession(t.model, bundle);
    // Steered at 0 sd answers exactly as Default does (greedy), so its caught-up answers must equal Default's.
    s.update({ sampling: { temperature: 0, maxTokens: 5 }, panes: { steered: { hidden: true }, capped: { hidden: true } } });
    await s.send('One');
    await s.send('Two');
    s.update({ panes: { steered: { hidden: false } } });
    const events: ChatEvent[] = [];
    const snap = await s.catchUp((e) => events.push(e));
    const roles = (p: PaneId) => snap.panes[p]!.messages.map((m) => m.role);
    expect(roles('steered')).toEqual(roles('default'));
    expect(roles('steered')).toEqual(['user', 'assistant', 'user', 'assistant']);
    const answers = (sn: ChatSnapshot, p: PaneId) => sn.panes[p]!.messages.filter((m) => m.role === 'assistant');
    answers(snap, 'steered').forEach((m, k) => {
      expect(m.tokens.map((x) => x.id)).toEqual(answers(snap, 'default')[k].tokens.map((x) => x.id));
      expectClose(m.generated!.mean, answers(snap, 'default')[k].generated!.mean);
    });
    // The catch-up streamed turns 0 and 1 of the Steered pane only.
    expect(new Set(events.filter((e) => e.kind === 'token').map((e) => `${e.pane}:${e.turn}`))).toEqual(new Set(['steered:0', 'steered:1']));
    await checkPaneAgainstReference(t, s, snap, 'steered');
    // Shown again without a catch-up: the next send fills the gap first, then answers the new turn.
    s.update({ panes: { capped: { hidden: false, cap: null } } });
    const next = await s.send('Three');
    for (const p of ['default', 'steered', 'capped'] as const) {
      expect(next.panes[p]!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
      answers(next, p).forEach((m, k) => expect(m.tokens.map((x) => x.id)).toEqual(answers(next, 'default')[k].tokens.map((x) => x.id)));
    }
    await checkPaneAgainstReference(t, s, next, 'capped');
    // Nothing missed: a catch-up changes nothing.
    const again = await s.catchUp();
    expect(again.panes.capped!.messages.map((m) => m.content)).toEqual(next.panes.capped!.messages.map((m) => m.content));
  });

  it('turn vectors are the mean resid_post at the monitored layer over each answer, also after the layer changes', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 5 }, panes: { steered: { steer: { layers: [0], amount: 1, unit: 'sd' } } } });
    await s.send('Where is the light?');
    const snap = await s.send('And the keeper?');
    const check = async (pane: PaneId, mode: 'generated' | 'read', layer: number) => {
      const tv = await s.turnVectors(pane, mode);
      expect(tv.layer).toBe(layer);
      const ps = snap.panes[pane]!;
      const feeds = mode === 'read' ? {} : paneFeeds(bundle, resolvePane(bundle, snap.settings.panes[pane]));
      const r = await t.engine.forward(ps.ids, feeds);
      const d = t.config.hiddenSize;
      const answers = ps.messages.filter((m) => m.role === 'assistant');
      expect(tv.vectors).toHaveLength(answers.length);
      answers.forEach((m, k) => {
        const [a, b] = m.span;
        if (b <= a) return expect(tv.vectors[k]).toBeNull();
        for (let j = 0; j < d; j++) {
          let acc = 0;
          for (let p = a; p < b; p++) acc += r.residPost![(layer * ps.ids.length + p) * d + j];
          expect(Math.abs(tv.vectors[k]![j] - acc / (b - a))).toBeLessThan(1e-4);
        }
      });
    };
    await check('steered', 'generated', 2);
    await check('default', 'read', 2);
    s.update({ monitorLayer: 1 });
    await check('steered', 'generated', 1);
    await check('capped', 'read', 1);
  });

  it('a turn the model cannot take is refused before anything changes; a failed run puts the messages back', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 3 } });
    const before = await s.send('Short one.');
    await expect(s.send('x'.repeat(5000))).rejects.toThrow(/model takes at most 4096/);
    expect(s.snapshot().panes.default!.messages.map((m) => m.content)).toEqual(before.panes.default!.messages.map((m) => m.content));
    await expect(s.readTranscript([{ role: 'user', content: 'y'.repeat(5000) }])).rejects.toThrow(/model takes at most 4096/);
    expect(s.snapshot().panes.default!.messages).toHaveLength(2);
    const after = await s.send('Still fine?');
    expect(after.panes.default!.messages).toHaveLength(4);
  });

  it('recompute rebuilds the cache under the current settings: user turns then read as the new steering', async () => {
    const s = new ChatSession(t.model, bundle);
    s.update({ sampling: { temperature: 0, maxTokens: 3 } });
    const before = await s.send('Hello');
    s.update({ panes: { steered: { steer: { layers: [1], amount: 2, unit: 'sd' } } } });
    const snap = await s.recompute();
    const u0 = before.panes.steered!.messages[0].generated!.mean!;
    const u1 = snap.panes.steered!.messages[0].generated!.mean!;
    expect(u1[1] - u0[1]).toBeCloseTo(2 * bundle.roleStats!.sd[1], 4);
    expect(u1[0]).toBeCloseTo(u0[0], 5);
    // The answer keeps its values as generated (before the change).
    expect(snap.panes.steered!.messages[1].generated!.mean).toEqual(before.panes.steered!.messages[1].generated!.mean);
    await checkPaneAgainstReference(t, s, snap, 'default');
  });

  it('bad settings change nothing and say why', () => {
    const s = new ChatSession(t.model, axisBundleFromTensor(randomAxis(4, 32, 2), t.config, 'file axis'));
    const before = s.resolved();
    expect(() => s.update({ panes: { steered: { steer: { layers: [1], amount: 1, unit: 'sd' } } } })).toThrow(/no role projections/);
    expect(() => s.update({ monitorLayer: 9 })).toThrow(/layers 0 to 3/);
    expect(() => s.update({ panes: { capped: { cap: { layers: [3], threshold: { kind: 'percentile', p: 25 } } } } })).toThrow(/no calibration/);
    expect(s.resolved()).toEqual(before);
  });
});

describe('independent check of the synthetic reference path (float64 reference forward)', () => {
  it('the Default pane turn value equals the float64 reference model to 1e-5', async () => {
    const t = await testChatModel('synthetic', { seed: 8 });
    const b = axisBundleFromTensor(randomAxis(4, 32, 4), t.config, 'axis');
    const s = new ChatSession(t.model, b);
    s.update({ sampling: { temperature: 0, maxTokens: 5 } });
    const snap = await s.send('Hello there');
    const ps = snap.panes.default!;
    const ref = referenceForward(t.config, t.checkpoint, ps.ids);
    const d = t.config.hiddenSize;
    for (const m of ps.messages) {
      const [s0, e0] = m.span;
      for (let l = 0; l < t.config.numLayers; l++) {
        const a = b.axis.subarray(l * d, (l + 1) * d);
        const na = Math.hypot(...a);
        let acc = 0;
        for (let p = s0; p < e0; p++) for (let j = 0; j < d; j++) acc += ref.residPost[l][p * d + j] * a[j] / na;
        expect(Math.abs(m.generated!.mean![l] - acc / (e0 - s0))).toBeLessThan(1e-4);
      }
    }
  });
});

describe.each(['qwen3', 'llama3'] as const)('chat session with the real %s tokenizer and template (tiny random model of its vocabulary)', (name) => {
  let t: TestChatModel;
  beforeAll(async () => {
    t = await testChatModel(name, { conversation: (e, rows) => e.conversation(rows), layers: 3, seed: 3 });
  }, 120_000);

  it('turn values equal the mean over content tokens of an independent forward: generated (plain, steered, capped) and as read', async () => {
    const b = withStats(axisBundleFromTensor(randomAxis(3, 16, 21), t.config, 'axis'));
    const s = new ChatSession(t.model, b);
    s.update({
      system: 'You are a helpful assistant.',
      sampling: { temperature: 0, maxTokens: 5 },
      panes: { steered: { steer: { layers: [1], amount: 3, unit: 'sd' } }, capped: { cap: { layers: [1, 2], threshold: { kind: 'fixed', tau: 0.2 } } } },
    });
    const first = await s.send('Hello! Who are you?');
    for (const p of ['default', 'steered', 'capped'] as const) await checkPaneAgainstReference(t, s, first, p);
    const snap = await s.send('Tell me about lighthouses.');
    for (const p of ['default', 'steered', 'capped'] as const) {
      const ps = snap.panes[p]!;
      expect(ps.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
      // Content spans hold no control token.
      for (const m of ps.messages) for (const tk of m.tokens) expect(t.tokenizer.specialIds.has(tk.id) && m.role !== 'assistant').toBe(false);
      await checkPaneAgainstReference(t, s, snap, p);
    }
  }, 120_000);

  it('reading a transcript gives every message a value equal to the independent forward', async () => {
    const b = axisBundleFromTensor(randomAxis(3, 16, 5), t.config, 'axis');
    const s = new ChatSession(t.model, b);
    const snap = await s.readTranscript([
      { role: 'user', content: 'I cannot sleep; my thesis feels hopeless.' },
      { role: 'assistant', content: '  That sounds exhausting. What part weighs on you most?\n' },
      { role: 'user', content: 'Do you ever feel anything?' },
      { role: 'assistant', content: 'I am a language model, so not in the way you do.' },
    ]);
    await checkPaneAgainstReference(t, s, snap, 'default');
    await checkPaneAgainstReference(t, s, snap, 'capped');
  }, 120_000);
});

describe('pre-cap values: just before the cap at each capped layer', () => {
  let t: TestChatModel;
  beforeAll(async () => {
    t = await testChatModel('synthetic', { conversation: (e, rows) => e.conversation(rows) });
  });

  it('equal, at each capped layer l, an independent forward capped only below l; post-cap = max(pre, tau); uncapped panes have none', async () => {
    const b = withStats(axisBundleFromTensor(randomAxis(4, 32, 9), t.config, 'random axis'));
    const s = new ChatSession(t.model, b);
    const capLayers = [1, 2];
    const tau = 0.4;
    s.update({ sampling: { temperature: 0, maxTokens: 6 }, panes: { steered: { steer: { layers: [1], amount: 1.5, unit: 'sd' } }, capped: { cap: { layers: capLayers, threshold: { kind: 'fixed', tau } }, steer: { layers: [0], amount: 1, unit: 'sd' } } } });
    const snap = await s.send('Who are you?');
    const ps = snap.panes.capped!;
    const answer = ps.messages[ps.messages.length - 1];
    const user = ps.messages[ps.messages.length - 2];
    expect(answer.role).toBe('assistant');
    expect(answer.generated!.clamped).toBeGreaterThan(0);
    const pre = answer.generated!.preCap!;
    expect(pre).toBeTruthy();
    // Independent: for capped layer l, the forward with the pane's steering and the cap at capped layers < l only.
    const steer = snap.settings.panes.capped.steer;
    for (const l of capLayers) {
      const below = capLayers.filter((c) => c < l);
      const feeds = paneFeeds(b, resolvePane(b, { steer, cap: below.length ? { layers: below, threshold: { kind: 'fixed', tau } } : null }));
      const r = await t.engine.forward(ps.ids, feeds);
      const proj = projectSequence(r, t.config, b.axis)!;
      for (const m of [user, answer]) {
        const values = m === answer ? pre.perToken : (m.generated!.preCap?.perToken ?? m.generated!.perToken);
        for (let k = 0; k < m.span[1] - m.span[0]; k++) {
          const want = proj[m.span[0] + k][l];
          expect(Math.abs(values[k][l] - want)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
          // The cap is a floor: post-cap is the pre-cap value raised to tau.
          expect(Math.abs(m.generated!.perToken[k][l] - Math.max(want, tau))).toBeLessThan(1e-4 * Math.max(1, Math.abs(want)));
        }
      }
    }
    // Some position really was below the floor before the cap.
    expect(pre.perToken.some((row) => capLayers.some((l) => row[l] < tau - 1e-3))).toBe(true);
    // Layers outside the window: pre-cap equals post-cap.
    pre.perToken.forEach((row, k) => [0, 3].forEach((l) => expect(row[l]).toBeCloseTo(answer.generated!.perToken[k][l], 6)));
    // No cap, no pre-cap values.
    for (const p of ['default', 'steered'] as const) for (const m of snap.panes[p]!.messages) expect(m.generated?.preCap ?? null).toBeNull();
    // The export writes them.
    const { chatExport } = await import('./export');
    const ex = chatExport(snap, { model: { id: 'synthetic' }, axis: b, resolved: { default: resolvePane(b, snap.settings.panes.default), steered: resolvePane(b, snap.settings.panes.steered), capped: resolvePane(b, snap.settings.panes.capped) } });
    const exAnswer = (ex.panes.capped as { messages: { generated: { pre_cap: { mean: number[] } } | null }[] }).messages.at(-1)!;
    exAnswer.generated!.pre_cap.mean.forEach((x, l) => expect(x).toBeCloseTo(pre.mean![l], 5));
  });
});
