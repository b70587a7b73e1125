/**
 * Test-only helpers for the own decoder (never imported by product code): the same file on
 * onnxruntime-web (WASM, in Node), one step at a time with its KV cache, resid_post of every layer
 * exposed (core/onnx/instrument.ts exposeResidualStream), or the instrumented graph (steering).
 */
import { exposeResidualStream, instrumentDecoder } from '../../onnx/instrument';
import { createSession, interventionFeeds, type Ort, type OrtSession, type OrtTensor } from '../ort';
import type { DecoderConfig } from '../config';
import type { Interventions } from '../interventions';

export async function ortWeb(): Promise<Ort> {
  const web = await import('onnxruntime-web');
  web.env.wasm.numThreads = 1;
  web.env.logLevel = 'fatal';
  return web as unknown as Ort;
}

export type OptLevel = 'disabled' | 'all';

/** A decoder file on onnxruntime-web with resid_post exposed (or instrumented, for steering). */
export class WebRunner {
  private past: OrtTensor[] | null = null;
  private pastLen = 0;
  private constructor(private readonly ort: Ort, private readonly session: OrtSession, private readonly cfg: DecoderConfig, private readonly residNames: string[] | null) {}

  static async open(ort: Ort, onnx: Uint8Array, cfg: DecoderConfig, opts: { level?: OptLevel; instrumented?: boolean } = {}): Promise<WebRunner> {
    const so = { executionProviders: ['wasm'], graphOptimizationLevel: opts.level ?? 'all', logSeverityLevel: 4 as const };
    if (opts.instrumented) {
      const inst = instrumentDecoder(onnx, { hiddenSize: cfg.hiddenSize });
      return new WebRunner(ort, await createSession(ort, inst, so), cfg, null);
    }
    const ref = exposeResidualStream(onnx, { hiddenSize: cfg.hiddenSize });
    return new WebRunner(ort, await createSession(ort, ref, so), cfg, ref.residualNames);
  }

  reset(): void {
    this.past = null;
    this.pastLen = 0;
  }

  /** Feed `ids` after what was fed before: logits [S, V] and resid_post per layer [S, d]. */
  async step(ids: number[], iv?: Interventions): Promise<{ logits: Float32Array; residPost: Float32Array[] }> {
    const { ort, cfg } = this;
    const S = ids.length, total = this.pastLen + S;
    const i64 = (v: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(v.map(BigInt)), dims);
    const feeds: Record<string, OrtTensor> = {
      input_ids: i64(ids, [1, S]),
      attention_mask: i64(new Array(total).fill(1), [1, total]),
      position_ids: i64(ids.map((_, i) => this.pastLen + i), [1, S]),
    };
    for (let l = 0; l < cfg.numLayers; l++) {
      for (const [j, kv] of ['key', 'value'].entries()) {
        feeds[`past_key_values.${l}.${kv}`] = this.past ? this.past[2 * l + j] : new ort.Tensor('float32', new Float32Array(0), [1, cfg.numKvHeads, 0, cfg.headDim]);
      }
    }
    if (!this.residNames) Object.assign(feeds, interventionFeeds(ort, iv!));
    const out = await this.session.run(feeds);
    this.past = [];
    for (let l = 0; l < cfg.numLayers; l++) this.past.push(out[`present.${l}.key`], out[`present.${l}.value`]);
    this.pastLen = total;
    const f32 = (t: { data: unknown }) => Float32Array.from(t.data as Float32Array);
    let residPost: Float32Array[];
    if (this.residNames) residPost = this.residNames.map((n) => f32(out[n]));
    else {
      const r = f32(out.resid_post), per = S * cfg.hiddenSize;
      residPost = Array.from({ length: cfg.numLayers }, (_, l) => r.slice(l * per, (l + 1) * per));
    }
    return { logits: f32(out.logits), residPost };
  }
}

/** max |a - b| / max(|b|) over the arrays (relative to b's largest magnitude). */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} vs ${b.length}`);
  let m = 0, s = 0;
  for (let i = 0; i < a.length; i++) {
    const x = Math.abs(a[i] - b[i]);
    if (!(x <= m)) m = x;
    s = Math.max(s, Math.abs(b[i]));
  }
  return m / s;
}
