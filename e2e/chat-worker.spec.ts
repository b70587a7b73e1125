/**
 * The chat lab's worker API in a real Chromium (the runtime test page's model client): typed errors
 * across the worker boundary, an axis, three panes streaming as rows of one batch, steering moved
 * mid-answer (the Steered pane's next value rises by exactly alpha at the steered layer, the Default
 * pane's does not move), Stop leaves the worker usable, the export equals the snapshot.
 */
import { expect, test } from '@playwright/test';

test('chat RPC: typed errors, three panes, live steering, stop, export', async ({ page }) => {
  test.setTimeout(120_000);
  await page.goto('/e2e/pages/runtime.html');
  await expect(page.locator('#status')).toHaveText('ready');

  const r = await page.evaluate(async () => {
    const c = (window as any).modelClient;
    const err = async (f: () => Promise<unknown>) => {
      try {
        await f();
        return null;
      } catch (e: any) {
        return { code: e.code, name: e.name, message: e.message };
      }
    };
    const noModel = await err(() => c.chatSend('hi'));
    const info = await c.load({ kind: 'synthetic', seed: 2 }, { device: 'wasm' });
    const L = info.numLayers;
    const D = info.hiddenSize;
    const noAxis = await err(() => c.chatSend('hi'));
    const badShape = await err(() => c.setAxis({ label: 'wrong', source: 'file', numLayers: 2, hiddenSize: 3, axis: new Float32Array(6).fill(1), roleStats: null, defaultProjection: null, calibration: null }));
    const axis = new Float32Array(L * D).map((_, i) => Math.cos(i * 0.37));
    const norm2 = Math.hypot(...axis.subarray(2 * D, 3 * D));
    const summary = await c.setAxis({ label: 'test axis', source: 'file', numLayers: L, hiddenSize: D, axis, roleStats: null, defaultProjection: null, calibration: null });
    await c.chatSettings({ sampling: { temperature: 0, maxTokens: 60 }, panes: { steered: { steer: { layers: [2], amount: 0, unit: 'raw' } }, capped: { hidden: true } } });
    const values: Record<string, number[][]> = { default: [], steered: [] };
    let tokens = 0;
    let changedAt = -1;
    const events: string[] = [];
    const send = c.chatSend('Tell me about the sea.', (e: any) => {
      events.push(e.kind + ':' + e.pane);
      if (e.kind === 'value') values[e.pane][e.index] = Array.from(e.projections as Float32Array);
      if (e.kind === 'token' && e.pane === 'steered' && ++tokens === 4) {
        changedAt = values.steered.length;
        void c.chatSettings({ panes: { steered: { steer: { amount: 2 } } } });
      }
      if (e.kind === 'token' && e.pane === 'steered' && tokens === 20) void c.chatStop();
    });
    const snap = await send;
    const exported = await c.chatExport();
    const after = await c.chatSend('Still there?');
    return { noModel, noAxis, badShape, summary, values, changedAt, events, snap, exported, after, L, norm2, detached: axis.length === 0 };
  });

  expect(r.noModel).toMatchObject({ code: 'no-model', name: 'ModelWorkerError', message: 'No model is loaded yet.' });
  expect(r.noAxis?.code).toBe('no-axis');
  expect(r.badShape?.code).toBe('axis-shape');
  expect(r.badShape?.message).toMatch(/\(2, 3\).*4 layers of hidden size 64/);
  expect(r.summary.defaultLayer).toBe(2);
  // The axis was transferred to the worker, not copied.
  expect(r.detached).toBe(true);
  // Both visible panes streamed; the hidden one did not.
  expect(r.events).toContain('token:default');
  expect(r.events).toContain('token:steered');
  expect(r.events.some((e: string) => e.endsWith(':capped'))).toBe(false);
  expect(r.snap.panes.capped).toBeNull();
  // Until the change the rows are identical; the first position fed after it has its layer-2
  // projection raised by exactly alpha (= amount x |axis[2]|) in Steered, layers below unchanged.
  const alpha = 2 * r.norm2;
  const k = r.values.steered.findIndex((v: number[], i: number) => Math.abs(v[2] - r.values.default[i][2]) > 1e-3);
  expect(k).toBeGreaterThan(0);
  expect(k).toBeGreaterThanOrEqual(r.changedAt - 1);
  expect(r.values.steered[k][2] - r.values.default[k][2]).toBeCloseTo(alpha, 2);
  expect(r.values.steered[k][1]).toBeCloseTo(r.values.default[k][1], 4);
  // Stop ended the answers; the worker answered again afterwards.
  expect(r.snap.panes.steered.messages[1].stopReason).toBe('interrupted');
  expect(r.after.panes.default.messages.filter((m: any) => m.role === 'assistant')).toHaveLength(2);
  // The export holds the same per-turn values as the snapshot.
  for (const p of ['default', 'steered']) {
    const m = r.snap.panes[p].messages[1];
    const x = r.exported.panes[p].messages[1];
    expect(x.span).toEqual(m.span);
    x.generated.mean.forEach((v: number, l: number) => expect(v).toBeCloseTo(m.generated.mean[l], 5));
    expect(x.read.mean).toHaveLength(r.L);
  }
});
