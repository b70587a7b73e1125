import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_VIEW, decodeView, encodeView, shareUrl, type ViewState } from './share-link';
import { props } from '../formats/test-props';

const viewArb: fc.Arbitrary<ViewState> = fc.record({
  src: fc.option(fc.webUrl(), { nil: null }),
  layer: fc.option(fc.nat(200), { nil: null }),
  pcx: fc.integer({ min: 1, max: 10 }),
  pcy: fc.integer({ min: 1, max: 10 }),
  color: fc.oneof(fc.constant('axis' as const), fc.integer({ min: 1, max: 10 }).map((k) => `pc${k}` as const)),
  sel: fc.array(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 6 }),
  mode: fc.constantFrom('2d' as const, '3d' as const),
});

describe('share link', () => {
  it('round-trips any view, including names with commas, ampersands and unicode', () => {
    fc.assert(fc.property(viewArb, (v) => {
      expect(decodeView(encodeView(v))).toEqual(v);
      expect(decodeView('#' + encodeView(v))).toEqual(v);
    }), props());
  });

  it('writes the documented hash layout', () => {
    const h = encodeView({ src: 'https://x.org/a b', layer: 16, pcx: 1, pcy: 3, color: 'pc2', sel: ['ghost', 'pirate'], mode: '2d' });
    expect(h).toBe('src=https%3A%2F%2Fx.org%2Fa%20b&layer=16&pcx=1&pcy=3&color=pc2&sel=ghost,pirate&mode=2d');
  });

  it('falls back to defaults for malformed values and ignores unknown keys', () => {
    const v = decodeView('#pcx=0&pcy=11&color=pc42&mode=4d&layer=-1&sel=%E0%A4%A&zzz=1&src=%');
    expect(v).toEqual({ ...DEFAULT_VIEW, sel: [] });
    expect(decodeView('')).toEqual(DEFAULT_VIEW);
  });

  it('replaces an existing hash in the page URL', () => {
    const url = shareUrl('http://h/app/?hub=x#old', { ...DEFAULT_VIEW, sel: ['a'] });
    expect(url).toBe('http://h/app/?hub=x#pcx=1&pcy=2&color=axis&sel=a&mode=2d');
  });
});

describe('share link: the map layout', () => {
  it('keeps UMAP with its seed and a custom axis with its queries; PCA links stay as they were', () => {
    const umap: ViewState = { ...DEFAULT_VIEW, sel: [], layout: 'umap', seed: 7 };
    expect(encodeView(umap)).toBe('pcx=1&pcy=2&color=axis&mode=2d&layout=umap&seed=7');
    expect(decodeView(encodeView(umap))).toEqual(umap);
    const custom: ViewState = { ...DEFAULT_VIEW, sel: [], layout: 'custom', ca: 'ghost, spirit & co', cb: '@roles' };
    expect(decodeView(encodeView(custom))).toEqual(custom);
    expect(encodeView({ ...DEFAULT_VIEW, sel: [] })).not.toContain('layout');
    expect(decodeView('#layout=tsne&seed=-3')).toEqual({ ...DEFAULT_VIEW, sel: [] });
  });
});
