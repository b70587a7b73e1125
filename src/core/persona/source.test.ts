import { describe, expect, it } from 'vitest';
import { DataError } from '../errors';
import { writePt } from '../formats/pt';
import { loadFromUrl, type ReleaseLoadOptions } from '../hub';
import { tensorFromF32 } from '../tensor';
import { checkSyntheticParams, filesLabel, loadPersonaSource, parseSourceText, sourceText, SYNTHETIC_BOUNDS, urlLabel, type PersonaSource, type SourceDeps } from './source';
import { createPersonaSet } from './persona-set';
import type { VirtualFile } from './types';

const vf = (path: string, bytes: Uint8Array): VirtualFile => ({ path, size: bytes.length, read: async () => bytes });
const vec = (d: number, f: (j: number) => number) => tensorFromF32(Float32Array.from({ length: d }, (_, j) => f(j)), [d]);
/** A folder of three per-role files and a default, in the release layout. */
function releaseFolder(prefix = ''): VirtualFile[] {
  return [
    vf(`${prefix}role_vectors/pirate.pt`, writePt(vec(4, (j) => j + 1))),
    vf(`${prefix}role_vectors/ghost.pt`, writePt(vec(4, (j) => 2 * j - 1))),
    vf(`${prefix}role_vectors/__proto__.pt`, writePt(vec(4, (j) => (j % 2 ? 3 : -3)))),
    vf(`${prefix}default_vector.pt`, writePt(vec(4, () => 5))),
  ];
}

describe('parseSourceText', () => {
  it('recognises every text form and round-trips through sourceText', () => {
    const cases: [string, PersonaSource][] = [
      ['synthetic:275x24d256', { kind: 'synthetic', params: { n: 275, layers: 24, dim: 256 } }],
      ['synthetic:20000', { kind: 'synthetic', params: { n: 20000, layers: null, dim: 64 } }],
      ['release:llama-3.3-70b', { kind: 'release', modelId: 'llama-3.3-70b' }],
      ['extraction:run-7', { kind: 'extraction', runId: 'run-7' }],
      ['https://example.org/x/vectors.pt', { kind: 'url', url: 'https://example.org/x/vectors.pt' }],
      ['hf://datasets/a/b/c', { kind: 'url', url: 'hf://datasets/a/b/c' }],
    ];
    for (const [text, want] of cases) {
      expect(parseSourceText(`  ${text} `)).toEqual(want);
      expect(sourceText(want)).toBe(text);
    }
    expect(sourceText({ kind: 'files', files: [] })).toBeNull();
  });
  it('clamps the member count as the app always did, and refuses a malformed synthetic spec in one sentence', () => {
    expect(parseSourceText('synthetic:1')).toMatchObject({ params: { n: 3 } });
    expect(parseSourceText('synthetic:9999999')).toMatchObject({ params: { n: SYNTHETIC_BOUNDS.maxN } });
    expect(() => parseSourceText('synthetic:lots')).toThrow(/is not a synthetic set; write synthetic:N/);
    expect(() => parseSourceText('   ')).toThrow(DataError);
  });
  it('passes the traits choice to a release', () => {
    expect(parseSourceText('release:qwen-3-32b', { traits: true })).toEqual({ kind: 'release', modelId: 'qwen-3-32b', traits: true });
  });
});

describe('synthetic bounds', () => {
  it('refuses absurd layer counts, widths and totals before any work', () => {
    for (const p of [{ n: 10, layers: 100_000, dim: 64 }, { n: 10, layers: null, dim: 10_000_000 }, { n: 200_000, layers: 100, dim: 64 }, { n: 10, layers: null, dim: 1.5 }, { n: 2, layers: null, dim: 8 }]) {
      expect(() => checkSyntheticParams(p)).toThrow(/A synthetic set takes/);
    }
    expect(() => checkSyntheticParams({ n: 275, layers: 24, dim: 256 })).not.toThrow();
  });
  it('never calls the generator with parameters outside the bounds', async () => {
    let called = 0;
    const deps: SourceDeps = { synthetic: () => { called++; throw new Error('unreachable'); } };
    await expect(loadPersonaSource(parseSourceText('synthetic:10x100000'), deps)).rejects.toThrow(/A synthetic set takes/);
    expect(called).toBe(0);
  });
});

describe('loadPersonaSource', () => {
  it('files: names and bytes through loadPersonaSet, labelled by their folder, __proto__ kept', async () => {
    const r = await loadPersonaSource({ kind: 'files', files: releaseFolder('vectors/') }, {});
    expect(r.label).toBe('vectors/');
    expect(r.sourceText).toBeNull();
    expect([...r.set.names].sort()).toEqual(['__proto__', 'ghost', 'pirate']);
    expect(Array.from(r.set.defaultAt(0)!)).toEqual([5, 5, 5, 5]);
    expect(r.files).toHaveLength(4);
  });
  it('release: asks the injected loader for the model, with the traits choice and the hub, and labels it', async () => {
    const asked: ReleaseLoadOptions[] = [];
    const deps: SourceDeps = {
      loadRelease: async (o) => { asked.push(o); return releaseFolder(); },
      releaseLabel: (id) => ({ id, label: 'Qwen 3 32B' }),
    };
    const r = await loadPersonaSource({ kind: 'release', modelId: 'qwen-3-32b' }, deps, { hub: 'http://127.0.0.1:1', traits: true });
    expect(asked[0]).toMatchObject({ modelId: 'qwen-3-32b', traits: true, hub: 'http://127.0.0.1:1' });
    expect(r.label).toBe('Qwen 3 32B (official release)');
    expect(r.sourceText).toBe('release:qwen-3-32b');
    expect(r.set.names).toHaveLength(3);
  });
  it('url: the real hub loader with an injected fetch, the label decoded (and a malformed escape kept as typed)', async () => {
    const bytes = writePt({ pirate: vec(4, (j) => j), ghost: vec(4, (j) => -j), sage: vec(4, (j) => j * j) });
    const fetch = (async () => new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]), { status: 200, headers: { 'content-length': String(bytes.length) } })) as typeof globalThis.fetch;
    const deps: SourceDeps = { loadUrl: (url, o) => loadFromUrl(url, { ...o, fetch }) };
    const r = await loadPersonaSource(parseSourceText('https://example.org/sets/my%20set.pt'), deps);
    expect([...r.set.names].sort()).toEqual(['ghost', 'pirate', 'sage']);
    expect(r.label).toBe('example.org/sets/my set.pt');
    expect(urlLabel('https://example.org/%E0%A4%A.pt')).toBe('example.org/%E0%A4%A.pt');
  });
  it('extraction: the store reader gives the run outputs in the release layout', async () => {
    const deps: SourceDeps = { readExtraction: async (id) => (id === 'run-1' ? releaseFolder() : []) };
    const r = await loadPersonaSource({ kind: 'extraction', runId: 'run-1' }, deps);
    expect(r.label).toBe('extraction run-1');
    expect(r.set.names).toHaveLength(3);
    // A reader that knows more about the run (partial, its model) gives the label people see.
    const labelled: SourceDeps = { readExtraction: async () => ({ files: releaseFolder(), label: 'extraction run-1 (Tiny), partial: 2 of 6 rollouts' }) };
    const p = await loadPersonaSource(parseSourceText('extraction:run-1'), labelled);
    expect(p.label).toBe('extraction run-1 (Tiny), partial: 2 of 6 rollouts');
    expect(p.sourceText).toBe('extraction:run-1');
  });
  it('synthetic: the injected generator gets the checked parameters', async () => {
    const seen: unknown[] = [];
    const deps: SourceDeps = {
      synthetic: (p) => {
        seen.push(p);
        return createPersonaSet({ names: ['a', 'b', 'c'], vectors: Float32Array.of(1, 2, 3, 4, 5, 7) });
      },
    };
    const r = await loadPersonaSource(parseSourceText('synthetic:3d2'), deps);
    expect(seen).toEqual([{ n: 3, layers: null, dim: 2 }]);
    expect(r.label).toBe('synthetic set of 3');
    expect(r.sourceText).toBe('synthetic:3d2');
    expect(r.set.dim).toBe(2);
  });
  it('a kind the host gives no loader for is one clear sentence', async () => {
    for (const s of ['release:x', 'https://a.b/c.pt', 'extraction:r', 'synthetic:5']) {
      await expect(loadPersonaSource(parseSourceText(s), {})).rejects.toThrow(/is not available here\.$/);
    }
  });
  it('progress: sees the files before they are parsed, then each one parsed', async () => {
    let known = 0;
    const parsed: string[] = [];
    await loadPersonaSource({ kind: 'files', files: releaseFolder() }, {}, { onFiles: (f) => { known = f.length; }, onProgress: (p) => parsed.push(p.path) });
    expect(known).toBe(4);
    expect(parsed).toHaveLength(4);
  });
  it('filesLabel: shared folder, the one file, or a count', () => {
    expect(filesLabel([{ path: 'a/x.pt' }, { path: 'a/y.pt' }])).toBe('a/');
    expect(filesLabel([{ path: 'x.pt' }])).toBe('x.pt');
    expect(filesLabel([{ path: 'x.pt' }, { path: 'b/y.pt' }])).toBe('2 files');
  });
});
