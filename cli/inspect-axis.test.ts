/**
 * `persona-space inspect` on axis files: format, "axis", layers, dim, dtype and |axis| per layer —
 * for a bf16 (n_layers, d) .pt as the release writes it, a (d,) .npy, {"axis", "metadata"}, and the
 * real Llama 3.1 8B L16 axis (default - mean(roles)) when ../shared is there.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from './main';
import { writeNpy } from '../src/core/formats/npy';
import { writePt } from '../src/core/formats/pt';
import { decodeF32, f32ToBf16Bits, tensorFromF32, type RawTensor } from '../src/core/tensor';
import { loadPersonaSetFromPath } from './fs-source';
import { assistantAxis } from '../src/core/persona/analysis';
import { LLAMA_L16_VECTORS } from '../src/core/testing/shared-data';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const io: CliIO = { out: (t) => (out += t.endsWith('\n') ? t : t + '\n'), err: (t) => (err += t.endsWith('\n') ? t : t + '\n') };
  const code = await main(argv, io);
  return { code, out, err };
}

const L = 5, D = 12;
const elem = (i: number) => Math.sin(i * 0.7) * (1 + Math.floor(i / D));
function bf16(shape: number[], f: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'bfloat16', shape, data: new Uint8Array(Uint16Array.from({ length: n }, (_, i) => f32ToBf16Bits(f(i))).buffer) };
}

let tmp = '';
const f = (name: string) => path.join(tmp, name);

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'persona-axis-'));
  writeFileSync(f('assistant_axis.pt'), writePt(bf16([L, D], elem)));
  writeFileSync(f('contrast.npy'), writeNpy(tensorFromF32(Float32Array.from({ length: D }, (_, i) => elem(i)), [D])));
  writeFileSync(f('with-meta.pt'), writePt({ axis: bf16([L, D], elem), metadata: { model: 'test' } }));
  mkdirSync(f('folder'));
  writeFileSync(f('folder/axis.pt'), writePt(bf16([L, D], elem)));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function norms(t: RawTensor): number[] {
  const v = decodeF32(t);
  const rows = t.shape.length === 2 ? t.shape[0] : 1, d = t.shape[t.shape.length - 1];
  return Array.from({ length: rows }, (_, l) => Math.hypot(...v.subarray(l * d, (l + 1) * d)));
}

describe('inspect on an axis file', () => {
  it('reports a bf16 (n_layers, d) .pt as an axis: format, layers, dim, dtype, |axis| per layer', async () => {
    const r = await cli('inspect', f('assistant_axis.pt'), '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ format: 'pt', kind: 'axis', layers: L, dim: D, dtype: 'bfloat16', key: null });
    const want = norms(bf16([L, D], elem));
    j.norms.forEach((v: number, l: number) => expect(v).toBeCloseTo(want[l], 4));
    const h = await cli('inspect', f('assistant_axis.pt'));
    expect(h.code).toBe(0);
    expect(h.out).toContain(`assistant_axis.pt: axis (pt): ${L} layers, ${D} dims, bfloat16`);
    expect(h.out).toMatch(/largest at layer 4/);
    expect(h.out).not.toMatch(/names|vectors,/);
  });

  it('reports a (d,) .npy, an {"axis", "metadata"} dict and an axis alone in a folder', async () => {
    expect(JSON.parse((await cli('inspect', f('contrast.npy'), '--json')).out)).toMatchObject({ format: 'npy', kind: 'axis', layers: null, dim: D, dtype: 'float32' });
    expect(JSON.parse((await cli('inspect', f('with-meta.pt'), '--json')).out)).toMatchObject({ kind: 'axis', layers: L, key: 'axis', metadata: true });
    expect(JSON.parse((await cli('inspect', f('folder'), '--json')).out)).toMatchObject({ kind: 'axis', layers: L, dim: D });
  });

  it('pca on an axis file says to load it as an axis, in one line, without asking for names', async () => {
    const r = await cli('pca', f('assistant_axis.pt'));
    expect(r.code).not.toBe(0);
    expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/is an axis file \(5 layers x 12\), not a set of personas: load it as an axis/);
    expect(r.err).not.toMatch(/--names/);
  });

  it.skipIf(!LLAMA_L16_VECTORS.present)(`the real Llama 3.1 8B L16 axis (default - mean(roles)) as a bf16 (d,) .pt${LLAMA_L16_VECTORS.present ? '' : ` (${LLAMA_L16_VECTORS.reason})`}`, async () => {
    const set = await loadPersonaSetFromPath(LLAMA_L16_VECTORS.path);
    const ax = assistantAxis(set).axis;
    writeFileSync(f('l16_axis.pt'), writePt(bf16([ax.length], (i) => ax[i])));
    const j = JSON.parse((await cli('inspect', f('l16_axis.pt'), '--json')).out);
    expect(j).toMatchObject({ format: 'pt', kind: 'axis', layers: null, dim: 4096, dtype: 'bfloat16' });
    expect(j.norms[0]).toBeCloseTo(Math.hypot(...ax), 0);
  });
});
