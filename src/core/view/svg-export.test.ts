/**
 * The map's SVG export stays well-formed XML whatever the member names hold (control characters,
 * markup, lone surrogates, U+FFFE), checked by a strict well-formedness parser.
 */
import { describe, expect, it } from 'vitest';
import { xmlWellFormedError } from '../testing/xml-wellformed';
import { xmlChars } from './export-table';
import { drawOrder, EMPH, projectPoints, sceneToSvg, type MapScene } from './map-scene';

const HOSTILE = [
  'bell\u0007name', 'nul\u0000', 'esc\u001b[31m', 'form\u000cfeed', 'vt\u000b', 'a<b>&c', '"quoted" & \'single\'',
  ']]>', '<!--', 'lone\ud800high', 'lone\udc00low', 'nonchar\ufffe\uffff', '__proto__', 'emoji 😀 tab\tline\nbreak', '&amp;',
];

function hostileScene(): MapScene {
  const n = HOSTILE.length;
  const coords = Float32Array.from({ length: n * 2 }, (_, i) => Math.sin(i + 1) * 3);
  const proj = projectPoints({ coords, k: 2, defaultCoords: [0, 0], pcx: 1, pcy: 2, mode: '2d', rotation: { yaw: 0, pitch: 0 }, transform: { k: 1, x: 0, y: 0 }, width: 400, height: 300, padding: 20 });
  const emph = new Uint8Array(n).fill(EMPH.normal);
  return {
    width: 400, height: 300, background: '#fff', proj, color: new Uint8Array(n), emphasis: emph, order: drawOrder(proj.z, emph, '2d'), radius: 4,
    arrow: null,
    labels: HOSTILE.map((text, id) => ({ id, x: proj.x[id], y: proj.y[id], width: 40, height: 12, side: 'right' as const, text, emphasis: EMPH.normal })),
    texts: HOSTILE.map((text, j) => ({ x: 5, y: 10 + j, text: `axis ${text}`, anchor: 'start' as const, size: 12 })),
    fontSize: 12,
    defaultLabel: 'default\u0001',
    polylines: [{ label: 'chat \u0002 <turn>', color: '#c00', points: [{ x: 10, y: 10, n: 1 }, { x: 20, y: 30, n: 2 }] }],
  };
}

describe('SVG export of the map', () => {
  it('the checker itself refuses what XML 1.0 refuses', () => {
    expect(xmlWellFormedError('<svg><text>ok &amp; fine</text></svg>')).toBeNull();
    expect(xmlWellFormedError('<svg><text>bell\u0007</text></svg>')).toMatch(/illegal character U\+0007/);
    expect(xmlWellFormedError('<svg><text>lone\ud800</text></svg>')).toMatch(/illegal character U\+d800/);
    expect(xmlWellFormedError('<svg><text>a<b</text></svg>')).not.toBeNull();
    expect(xmlWellFormedError('<svg><text>a & b</text></svg>')).toMatch(/bad reference/);
    expect(xmlWellFormedError('<svg><text>x</svg>')).toMatch(/closes/);
    expect(xmlWellFormedError('<svg a="1" a="2"/>')).toMatch(/twice/);
    expect(xmlWellFormedError('<svg><t>&#1;</t></svg>')).toMatch(/illegal character 1/);
    expect(xmlWellFormedError('<svg><t>]]></t></svg>')).toMatch(/]]>/);
  });

  it('names with control characters, markup and lone surrogates keep the SVG well-formed, each drawn once', () => {
    const svg = sceneToSvg(hostileScene());
    expect(xmlWellFormedError(svg)).toBeNull();
    // every label is still there (escaped, forbidden characters shown as U+FFFD), none dropped
    const labels = [...svg.matchAll(/paint-order="stroke">([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(labels).toHaveLength(HOSTILE.length);
    expect(labels).toContain('bell\ufffdname');
    expect(labels).toContain('a&lt;b&gt;&amp;c');
    expect(labels).toContain('lone\ufffdhigh');
    expect(labels).toContain('__proto__');
    expect(labels).toContain('emoji 😀 tab\tline\nbreak');
    expect(svg).toContain('<title>chat \ufffd &lt;turn&gt;</title>');
  });

  it('xmlChars (for text a DOM serializer escapes itself) replaces only what XML forbids', () => {
    expect(xmlChars('a\u0001b<c>&\ud800\ufffe tab\tnl\n😀')).toBe('a\ufffdb<c>&\ufffd\ufffd tab\tnl\n😀');
    for (const h of HOSTILE) expect(xmlWellFormedError(`<svg><title>${xmlChars(h).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</title></svg>`)).toBeNull();
  });
});
