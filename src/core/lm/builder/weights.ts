/**
 * Weight conversions for the builder: float16 rounding, transposition, and 4-bit block
 * quantisation in the layout of com.microsoft.MatMulNBits (bits=4, block_size=32).
 *
 * MatMulNBits computes Y = A . dequant(B)^T with B laid out [N][k_blocks][block_size/2 bytes]:
 * row n is output feature n, i.e. exactly an HF Linear weight row (W is [out, in]). Two 4-bit
 * values per byte, the even element in the low nibble. dequant = (q - zero_point) * scale, one
 * scale and one 4-bit zero point per block (zero points packed two per byte, per row).
 */

export { f32ToF16Bits, f32ToF16Array } from '../../tensor';

/** [rows, cols] -> [cols, rows]. */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    const ro = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = w[ro + c];
  }
  return out;
}

export interface Q4Weight {
  /** N x kBlocks x (blockSize / 2) bytes. */
  packed: Uint8Array;
  /** N x kBlocks scales (float32; round to f16 separately for f16 activations). */
  scales: Float32Array;
  /** N x ceil(kBlocks / 2) bytes of 4-bit zero points. */
  zeroPoints: Uint8Array;
  N: number;
  K: number;
  kBlocks: number;
  blockSize: number;
}

/**
 * Asymmetric 4-bit quantisation of W [N, K] (an HF Linear weight) per block of `blockSize` along K.
 * The block range always includes 0, so zeros stay exact. `roundScale` maps each scale to the
 * precision it will be stored in (e.g. to float16) before the codes are chosen.
 */
export function quantizeQ4(w: Float32Array, N: number, K: number, blockSize = 32, roundScale: (s: number) => number = (s) => Math.fround(s)): Q4Weight {
  const kBlocks = Math.ceil(K / blockSize);
  const blob = blockSize / 2;
  const packed = new Uint8Array(N * kBlocks * blob);
  const scales = new Float32Array(N * kBlocks);
  const zpRow = Math.ceil(kBlocks / 2);
  const zeroPoints = new Uint8Array(N * zpRow);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let b = 0; b < kBlocks; b++) {
      const k0 = b * blockSize;
      const k1 = Math.min(K, k0 + blockSize);
      let mn = 0, mx = 0;
      for (let k = k0; k < k1; k++) {
        const v = w[row + k];
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
      let scale = roundScale((mx - mn) / 15);
      let zp: number;
      if (!(scale > 0) || !Number.isFinite(scale)) { scale = 1; zp = 8; }
      else zp = Math.min(15, Math.max(0, Math.round(-mn / scale)));
      scales[n * kBlocks + b] = scale;
      const zi = n * zpRow + (b >> 1);
      zeroPoints[zi] |= b & 1 ? zp << 4 : zp;
      const base = (n * kBlocks + b) * blob;
      const inv = 1 / scale;
      const off = zp + 0.5;
      for (let k = k0; k < k1; k += 2) {
        // round half up of w/scale + zp, clamped to 0..15 (|0 truncates, fine once shifted by +0.5)
        let q0 = (w[row + k] * inv + off) | 0;
        q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
        let q1 = k + 1 < k1 ? (w[row + k + 1] * inv + off) | 0 : 0;
        q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
        packed[base + ((k - k0) >> 1)] = q0 | (q1 << 4);
      }
      // padding past K stays code 0; MatMulNBits ignores columns beyond K
    }
  }
  return { packed, scales, zeroPoints, N, K, kBlocks, blockSize };
}

/** W [N, K] as MatMulNBits sees it (for tests and error estimates). */
export function dequantizeQ4(q: Q4Weight): Float32Array {
  const out = new Float32Array(q.N * q.K);
  const blob = q.blockSize / 2;
  const zpRow = Math.ceil(q.kBlocks / 2);
  for (let n = 0; n < q.N; n++) {
    for (let b = 0; b < q.kBlocks; b++) {
      const scale = q.scales[n * q.kBlocks + b];
      const zb = q.zeroPoints[n * zpRow + (b >> 1)];
      const zp = b & 1 ? zb >> 4 : zb & 15;
      for (let j = 0; j < q.blockSize; j++) {
        const k = b * q.blockSize + j;
        if (k >= q.K) break;
        const byte = q.packed[(n * q.kBlocks + b) * blob + (j >> 1)];
        const code = j & 1 ? byte >> 4 : byte & 15;
        out[n * q.K + k] = (code - zp) * scale;
      }
    }
  }
  return out;
}

export interface Q8Weight {
  /** [K, N] codes (the MatMul layout: y = x . W^T), uint8 or int8 by `signed`. */
  codes: Uint8Array | Int8Array;
  /** One scale and one zero point for the whole tensor (per-tensor, as Optimum's dynamic quantisation writes). */
  scale: number;
  zeroPoint: number;
  signed: boolean;
}

/**
 * Per-tensor 8-bit quantisation of W [N, K] (an HF Linear weight), written transposed [K, N] for
 * MatMulInteger (or as is, [N, K], when `transposed` is false): dequant = (code - zeroPoint) * scale. uint8 is asymmetric over [min(w,0), max(w,0)];
 * int8 is symmetric (zero point 0), as onnxruntime's quantize_dynamic does for each type.
 */
export function quantizeQ8(w: Float32Array, N: number, K: number, signed = false, transposed = true): Q8Weight {
  let mn = 0, mx = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i];
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  let scale: number, zeroPoint: number, lo: number, hi: number;
  if (signed) {
    scale = Math.fround(Math.max(-mn, mx) / 127);
    zeroPoint = 0; lo = -127; hi = 127;
  } else {
    scale = Math.fround((mx - mn) / 255);
    zeroPoint = scale > 0 ? Math.min(255, Math.max(0, Math.round(-mn / scale))) : 0;
    lo = 0; hi = 255;
  }
  if (!(scale > 0) || !Number.isFinite(scale)) { scale = 1; zeroPoint = 0; }
  const codes = signed ? new Int8Array(N * K) : new Uint8Array(N * K);
  const inv = 1 / scale;
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let k = 0; k < K; k++) {
      const q = Math.round(w[row + k] * inv) + zeroPoint;
      codes[transposed ? k * N + n : row + k] = q < lo ? lo : q > hi ? hi : q;
    }
  }
  return { codes, scale, zeroPoint, signed };
}

/** W^T [K, N] as MatMulInteger sees it (for tests). */
export function dequantizeQ8(q: Q8Weight): Float32Array {
  const out = new Float32Array(q.codes.length);
  for (let i = 0; i < out.length; i++) out[i] = (q.codes[i] - q.zeroPoint) * q.scale;
  return out;
}
