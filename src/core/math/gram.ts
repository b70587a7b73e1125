/**
 * The Gram matrix G = X X^T of an n x d row-major float64 matrix: the hot loop of PCA
 * (n^2 d / 2 multiply-adds). Blocked over d so the block of every row stays in cache, and
 * register-blocked 4 rows x 4 rows so each loaded value feeds four multiply-adds.
 * Plain loops without closures: V8 keeps the 16 accumulators in registers.
 */
const BLOCK = 256;

export function gram(x: Float64Array, n: number, d: number, out: Float64Array = new Float64Array(n * n)): Float64Array {
  if (x.length < n * d) throw new RangeError(`gram: ${x.length} values cannot hold ${n} x ${d}.`);
  if (out.length < n * n) throw new RangeError(`gram: output holds ${out.length} values, needs ${n * n}.`);
  out.fill(0, 0, n * n);
  for (let k0 = 0; k0 < d; k0 += BLOCK) {
    const k1 = Math.min(d, k0 + BLOCK);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const a0 = i * d, a1 = a0 + d, a2 = a1 + d, a3 = a2 + d;
      let j = i;
      for (; j + 4 <= n; j += 4) {
        const b0 = j * d, b1 = b0 + d, b2 = b1 + d, b3 = b2 + d;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
        let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
        let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
        for (let k = k0; k < k1; k++) {
          const x0 = x[a0 + k], x1 = x[a1 + k], x2 = x[a2 + k], x3 = x[a3 + k];
          const y0 = x[b0 + k], y1 = x[b1 + k], y2 = x[b2 + k], y3 = x[b3 + k];
          s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
          s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
          s20 += x2 * y0; s21 += x2 * y1; s22 += x2 * y2; s23 += x2 * y3;
          s30 += x3 * y0; s31 += x3 * y1; s32 += x3 * y2; s33 += x3 * y3;
        }
        const g0 = i * n + j, g1 = g0 + n, g2 = g1 + n, g3 = g2 + n;
        out[g0] += s00; out[g0 + 1] += s01; out[g0 + 2] += s02; out[g0 + 3] += s03;
        out[g1] += s10; out[g1 + 1] += s11; out[g1 + 2] += s12; out[g1 + 3] += s13;
        out[g2] += s20; out[g2 + 1] += s21; out[g2 + 2] += s22; out[g2 + 3] += s23;
        out[g3] += s30; out[g3 + 1] += s31; out[g3 + 2] += s32; out[g3 + 3] += s33;
      }
      for (; j < n; j++) {
        const b = j * d;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let k = k0; k < k1; k++) {
          const y = x[b + k];
          s0 += x[a0 + k] * y; s1 += x[a1 + k] * y; s2 += x[a2 + k] * y; s3 += x[a3 + k] * y;
        }
        out[i * n + j] += s0; out[(i + 1) * n + j] += s1; out[(i + 2) * n + j] += s2; out[(i + 3) * n + j] += s3;
      }
    }
    for (; i < n; i++) {
      const a = i * d;
      for (let j = i; j < n; j++) {
        const b = j * d;
        let s = 0;
        for (let k = k0; k < k1; k++) s += x[a + k] * x[b + k];
        out[i * n + j] += s;
      }
    }
  }
  // Only the upper triangle (j >= i) was summed for every pair; mirror it.
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) out[j * n + i] = out[i * n + j];
  return out;
}
