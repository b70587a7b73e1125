/**
 * The own int8 decoder (./decoder.ts) behind the session seam (`DecoderSessionLike`, ../ort.ts), so
 * that LmEngine, Conversation, rows, truncation and row slicing run on it unchanged. It presents an
 * instrumented 'optimum'-style graph, whatever the file's export style:
 *
 *   inputs   input_ids [n, S] int64, attention_mask [n, W + S] int64, position_ids [n, S] int64,
 *            past_key_values.{i}.{key,value} [n, kvHeads, W, headDim] float32,
 *            steer [R, L, d], cap_axis [R, L, d], cap_tau [R, L] float32 (R = 1 shared, or R = n);
 *   outputs  logits [n, S, V], present.{i}.{key,value} [n, kvHeads, W + S, headDim] (past, then the
 *            new slots), resid_post [L, n, S, d] (after steering and capping), cap_lift [L, n, S].
 *
 * A query at new index s of row b sees slot j iff mask[b, j] = 1 and j <= W + s; its position is
 * position_ids[b, s]. Work in progress: see the skeleton note on `run`.
 */
import { DataError } from '../../errors';
import type { ExternalFile } from '../../onnx/rewrite/externalize';
import type { DecoderConfig } from '../config';
import { LmEngine } from '../generate';
import type { DecoderSessionLike, OrtModuleLike, OrtTensorLike } from '../ort';
import {
  ATTENTION_MASK, CAP_AXIS_INPUT, CAP_LIFT_OUTPUT, CAP_TAU_INPUT, INPUT_IDS, LOGITS, pastName, POSITION_IDS, presentName, RESID_POST_OUTPUT, STEER_INPUT,
} from '../ort';
import { OwnDecoder } from './decoder';
import type { KernelPool } from './linear';

export interface OwnSessionOptions {
  /** The model's external data files (`model.onnx_data`, ...), by the location the graph names. */
  externalData?: ExternalFile[];
  /** Threads for the linears (./linear.ts); without it every linear runs on the calling thread. */
  pool?: KernelPool;
}

export class OwnSession implements DecoderSessionLike {
  readonly style = 'optimum' as const;
  /** Bytes of weight codes held in the kernels' memories. */
  readonly weightBytes: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly { name: string; isTensor: boolean; type: string }[];
  private released = false;

  constructor(private readonly ort: OrtModuleLike, readonly decoder: OwnDecoder) {
    const L = decoder.cfg.numLayers;
    const past = Array.from({ length: L }, (_, i) => [pastName(i, 'key'), pastName(i, 'value')]).flat();
    const present = Array.from({ length: L }, (_, i) => [presentName(i, 'key'), presentName(i, 'value')]).flat();
    this.inputNames = [INPUT_IDS, ATTENTION_MASK, POSITION_IDS, ...past, STEER_INPUT, CAP_AXIS_INPUT, CAP_TAU_INPUT];
    this.outputNames = [LOGITS, ...present, RESID_POST_OUTPUT, CAP_LIFT_OUTPUT];
    this.inputMetadata = this.inputNames.map((name) => ({ name, isTensor: true, type: name === INPUT_IDS || name === ATTENTION_MASK || name === POSITION_IDS ? 'int64' : 'float32' }));
    this.weightBytes = decoder.weightBytes;
  }

  async run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>> {
    if (this.released) throw new DataError('own-released', 'This model session has been released; load the model again.');
    void feeds;
    void this.ort;
    throw new DataError('own-not-ready', 'The own decoder session is not implemented yet.');
  }

  async release(): Promise<void> {
    this.released = true;
  }
}

/**
 * A session of the own decoder over an 8-bit decoder file. Throws readOwnWeights' FormatError for a
 * file it cannot read (callers fall back to onnxruntime-web). `ort` only supplies the Tensor
 * constructor for the outputs.
 */
export function createOwnSession(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions = {}): OwnSession {
  return new OwnSession(ort, OwnDecoder.fromOnnx(onnx, cfg, options.externalData, { pool: options.pool }));
}

/** LmEngine over createOwnSession (style 'optimum', instrumented: the session has steer/cap_axis/cap_tau inputs and resid_post/cap_lift outputs). */
export function createOwnEngine(ort: OrtModuleLike, onnx: Uint8Array, cfg: DecoderConfig, options: OwnSessionOptions = {}): LmEngine {
  return new LmEngine(ort, createOwnSession(ort, onnx, cfg, options), cfg, { style: 'optimum', kvType: 'float32' });
}
