import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildCsv, buildJson, csvField, formatNumber, parseCsv } from './export-table';
import { format3, formatBytes, formatPercent, formatProgress } from './format';
import { rankByProjection, type LayerAnalysis } from './types';
import { props } from '../formats/test-props';

function analysis(names: string[], k = 3, withDefault = true): LayerAnalysis {
  const n = names.length;
  const coords = new Float32Array(n * k).map((_, i) => Math.sin(i + 1) * 10);
  const projection = new Float32Array(n).map((_, i) => Math.cos(i * 1.7));
  return {
    setId: 'a', layer: 16, k, names, kinds: names.map(() => 'role' as const), coords,
    defaultCoords: withDefault ? [5, -1, 0.25] : null, explained: [0.27583, 0.16833, 0.07038],
    projection, defaultProjection: withDefault ? 2.5 : null, axisNorm: withDefault ? 12 : null,
    cosAxisPc: withDefault ? [0.81781, 0.2, 0.1] : [], rank: rankByProjection(projection),
  };
}

describe('CSV export', () => {
  it('has the contract columns and one row per member plus the default', () => {
    const a = analysis(['ghost', 'pirate', 'sage, the wise']);
    const rows = parseCsv(buildCsv(a));
    expect(rows[0]).toEqual(['name', 'kind', 'pc1', 'pc2', 'pc3', 'axis_projection', 'rank']);
    expect(rows.length).toBe(1 + 3 + 1);
    expect(rows[3][0]).toBe('sage, the wise');
    expect(rows[4].slice(0, 3)).toEqual(['default', 'default', '5']);
    expect(rows[4][6]).toBe('');
    for (let i = 0; i < 3; i++) {
      expect(Math.fround(Number(rows[i + 1][2]))).toBe(a.coords[i * 3]);
      expect(Math.fround(Number(rows[i + 1][5]))).toBe(a.projection[i]);
      expect(Number(rows[i + 1][6])).toBe(a.rank[i]);
    }
  });

  it('leaves out the default row when the set has none', () => {
    expect(parseCsv(buildCsv(analysis(['a', 'b'], 3, false))).length).toBe(3);
  });

  it('round-trips any name through quoting', () => {
    // Pinned seed (printed on failure by fast-check); names that would start a formula come back with the apostrophe.
    fc.assert(fc.property(fc.string(), (s) => {
      expect(parseCsv(csvField(s) + '\n')[0][0]).toBe(/^[=+\-@\t\r]/.test(s) ? `'${s}` : s);
    }), props({ seed: 20261202 }));
  });

  it('keeps float32 values exact', () => {
    fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
      expect(Math.fround(Number(formatNumber(x)))).toBe(Object.is(x, -0) ? 0 : x);
    }), props());
  });

  it('ranks 1 = largest projection', () => {
    expect(Array.from(rankByProjection([0.1, 3, -2, 3]))).toEqual([3, 1, 4, 2]);
  });
});

describe('JSON export', () => {
  it('holds the same numbers as the CSV', () => {
    const a = analysis(['ghost', 'pirate']);
    const j = buildJson(a, { label: 'test', defaultLabel: 'default' });
    expect(j.members.map((m) => m.name)).toEqual(['ghost', 'pirate']);
    expect(Math.fround(j.members[1].coords[0])).toBe(a.coords[3]);
    expect(j.default?.coords).toEqual([5, -1, 0.25]);
    expect(j.explained_variance_ratio[0]).toBe(0.27583);
  });
});

describe('number formats', () => {
  it('writes the scree, cos and progress texts the page shows', () => {
    expect(formatPercent(0.27583)).toBe('27.6 %');
    expect(format3(0.81781)).toBe('0.818');
    expect(formatProgress(3, 276, 2_500_000)).toBe('3/276 files · 2.5 MB');
    expect(formatProgress(3, 276, 2_500_000, 10_000_000)).toBe('3/276 files · 2.5 of 10.0 MB');
    expect(formatBytes(112_400_000)).toBe('112.4 MB');
  });
});

describe('hostile names in exports', () => {
  it('CSV cells starting with = + - @ tab or CR are not formulas (OWASP), and still round-trip as text', async () => {
    const { csvField, parseCsv, spreadsheetSafe } = await import('./export-table');
    for (const name of ['=1+1', '+SUM(A1)', '-2', '@cmd', '\tx', '\rx', '=HYPERLINK("http://x","y")']) {
      const f = csvField(name);
      const cell = parseCsv(f + '\n')[0][0];
      expect(cell).toBe(`'${name}`);
      expect(/^[=+\-@\t\r]/.test(cell)).toBe(false);
    }
    expect(spreadsheetSafe('ghost')).toBe('ghost');
    expect(csvField('a,b')).toBe('"a,b"');
  });
  it('xmlText keeps any name valid XML (controls, markup, lone surrogates)', async () => {
    const { xmlText } = await import('./export-table');
    const name = 'a\u0001b<c>&"\'\ud800\u0007';
    const out = xmlText(name);
    expect(out).toBe('a\ufffdb&lt;c&gt;&amp;&quot;&apos;\ufffd\ufffd');
    // eslint-disable-next-line no-control-regex -- finding control characters is the point
    expect(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(out)).toBe(false);
    expect(xmlText('😀 tab\tok')).toBe('😀 tab\tok');
  });
});
