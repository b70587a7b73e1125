/**
 * For tests: the rows.ts Conversation contract done the slow, obvious way — no KV cache, every step
 * is a whole teacher-forced `LmEngine.forward` of each row. It is the reference a cached, batched
 * Conversation must agree with, and lets the chat core be tested on its own.
 */
import { LmEngine, unitRows } from '../lm/generate';
import type { Conversation, RowParams, RunOptions, RunResult, RowStopReason } from '../lm/rows';
import { GREEDY, Pcg32, sampleToken } from '../lm/sampling';

export function forwardConversation(engine: LmEngine, rows: number): Conversation {
  const seqs: number[][] = Array.from({ length: rows }, () => []);
  const fed: number[] = new Array(rows).fill(0);
  const { numLayers: L, hiddenSize: d, vocabSize: V } = engine.shape;

  async function pass(row: number, params: RowParams, o: Pick<RunOptions, 'axis' | 'keepResid' | 'onPosition'>): Promise<Float32Array> {
    const ids = seqs[row];
    const r = await engine.forward(ids, params);
    const unit = o.axis ? unitRows(o.axis, L, d) : null;
    for (let p = fed[row]; p < ids.length; p++) {
      let projections: Float32Array | null = null;
      let resid: Float32Array | null = null;
      if (r.residPost) {
        resid = new Float32Array(L * d);
        for (let l = 0; l < L; l++) resid.set(r.residPost.subarray((l * ids.length + p) * d, (l * ids.length + p + 1) * d), l * d);
        if (unit) {
          projections = new Float32Array(L);
          for (let l = 0; l < L; l++) {
            let s = 0;
            for (let j = 0; j < d; j++) s += resid[l * d + j] * unit[l * d + j];
            projections[l] = s;
          }
        }
      }
      let clamped = 0;
      if (resid && params.capTau && params.capAxis) {
        for (let l = 0; l < L; l++) {
          if (params.capTau[l] === -Infinity) continue;
          let s = 0;
          for (let j = 0; j < d; j++) s += resid[l * d + j] * params.capAxis[l * d + j];
          if (Math.abs(s - params.capTau[l]) < 1e-4) clamped++;
        }
      }
      o.onPosition?.({ row, position: p, id: ids[p], projections, resid: o.keepResid ? resid : null, clamped });
    }
    fed[row] = ids.length;
    return r.logits.slice((ids.length - 1) * V, ids.length * V);
  }

  return {
    rows,
    tokens: (row) => seqs[row],
    cachedLength: (row) => fed[row],
    setTokens(row, ids) {
      let k = 0;
      const old = seqs[row];
      while (k < ids.length && k < old.length && k < fed[row] && ids[k] === old[k]) k++;
      fed[row] = k;
      seqs[row] = [...ids];
    },
    async run(o: RunOptions): Promise<RunResult> {
      const out: RunResult = { rows: [], prefillTokens: 0, prefillMs: 0, decodeMs: 0, decodeTokensPerSecond: 0 };
      for (let row = 0; row < rows; row++) {
        const gen = o.generate ? o.generate[row] : true;
        const ids: number[] = [];
        let text = '';
        let stopReason: RowStopReason = gen && o.maxNewTokens > 0 ? 'max-tokens' : 'prefill-only';
        const stopIds = new Set((Array.isArray(o.stopIds?.[0]) ? (o.stopIds as number[][])[row] : (o.stopIds as number[] | undefined)) ?? []);
        const rng = new Pcg32(o.seeds?.[row] ?? 0);
        if (seqs[row].length > fed[row]) {
          out.prefillTokens += seqs[row].length - fed[row];
          const logits = await pass(row, o.params[row], o);
          for (let step = 0; gen && step < o.maxNewTokens; step++) {
            if (o.signal?.aborted) {
              stopReason = 'interrupted';
              break;
            }
            const cur = step === 0 ? logits : await pass(row, o.params[row], o);
            const id = sampleToken(cur, o.params[row].sampling ?? GREEDY, rng);
            const stop = stopIds.has(id);
            const piece = !stop ? (o.decoders?.[row]?.push(id) ?? '') : '';
            text += piece;
            ids.push(id);
            seqs[row].push(id);
            await o.onToken?.({ row, index: step, id, text: piece, projections: null, stop });
            if (stop) {
              stopReason = 'eos';
              break;
            }
          }
        }
        text += o.decoders?.[row]?.flush() ?? '';
        out.rows.push({ ids, text, stopReason });
      }
      return out;
    },
    async recompute(params, o = {}) {
      for (let row = 0; row < rows; row++) {
        fed[row] = 0;
        if (seqs[row].length) await pass(row, params[row], o);
      }
    },
    dispose() {},
  };
}
