import { describe, expect, it } from 'vitest';
import { hubFileUrl, hubTreeUrl, hubFolderPageUrl, parseSourceUrl } from './url';
import { RELEASE_MODELS, releaseFiles, releaseSizeEstimate } from './release';
import { HubError } from './errors';
import { ROLE_NAMES, TRAIT_NAMES } from '../persona/names';

describe('hub URLs', () => {
  it('builds resolve URLs for datasets and models like huggingface_hub', () => {
    expect(hubFileUrl({ repo: 'lu-christina/assistant-axis-vectors', type: 'dataset', path: 'qwen-3-32b/role_vectors/ghost.pt' })).toBe(
      'https://huggingface.co/datasets/lu-christina/assistant-axis-vectors/resolve/main/qwen-3-32b/role_vectors/ghost.pt',
    );
    expect(hubFileUrl({ hub: 'http://127.0.0.1:9/', repo: 'onnx-community/Qwen3-0.6B-ONNX', path: 'onnx/model_q4.onnx_data_1' })).toBe(
      'http://127.0.0.1:9/onnx-community/Qwen3-0.6B-ONNX/resolve/main/onnx/model_q4.onnx_data_1',
    );
    // revisions with '/' and file names with spaces are encoded per segment
    expect(hubFileUrl({ repo: 'a/b', revision: 'refs/pr/1', path: 'x y/z#.pt' })).toBe('https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/x%20y/z%23.pt');
  });

  it('builds tree-API and folder-page URLs', () => {
    expect(hubTreeUrl({ repo: 'o/n', type: 'dataset', path: 'gemma-2-27b', recursive: true })).toBe(
      'https://huggingface.co/api/datasets/o/n/tree/main/gemma-2-27b?recursive=true',
    );
    expect(hubTreeUrl({ repo: 'o/n' })).toBe('https://huggingface.co/api/models/o/n/tree/main');
    expect(hubFolderPageUrl({ repo: 'o/n', type: 'dataset', path: 'p/q' })).toBe('https://huggingface.co/datasets/o/n/tree/main/p/q');
  });
});

describe('parseSourceUrl', () => {
  it('reads hub folder pages, file pages, hf:// paths and plain URLs', () => {
    expect(parseSourceUrl('https://huggingface.co/datasets/lu-christina/assistant-axis-vectors/tree/main/qwen-3-32b')).toEqual({
      kind: 'hub-folder', hub: 'https://huggingface.co', repo: 'lu-christina/assistant-axis-vectors', type: 'dataset', revision: 'main', path: 'qwen-3-32b',
    });
    const f = parseSourceUrl('https://huggingface.co/datasets/o/n/blob/v1/a/b.pt');
    expect(f).toMatchObject({ kind: 'hub-file', repo: 'o/n', type: 'dataset', revision: 'v1', path: 'a/b.pt' });
    expect(f.kind === 'hub-file' && f.url).toBe('https://huggingface.co/datasets/o/n/resolve/v1/a/b.pt');
    expect(parseSourceUrl('https://huggingface.co/o/n/resolve/main/config.json')).toMatchObject({ kind: 'hub-file', type: 'model', path: 'config.json' });
    expect(parseSourceUrl('https://huggingface.co/datasets/o/n')).toMatchObject({ kind: 'hub-folder', path: '', revision: 'main' });
    expect(parseSourceUrl('hf://datasets/o/n@dev/qwen-3-32b', 'http://127.0.0.1:5000')).toEqual({
      kind: 'hub-folder', hub: 'http://127.0.0.1:5000', repo: 'o/n', type: 'dataset', revision: 'dev', path: 'qwen-3-32b',
    });
    expect(parseSourceUrl('hf://datasets/o/n/x/ghost.pt')).toMatchObject({ kind: 'hub-file', url: 'https://huggingface.co/datasets/o/n/resolve/main/x/ghost.pt' });
    expect(parseSourceUrl('hf://o/n/onnx')).toMatchObject({ kind: 'hub-folder', type: 'model', path: 'onnx' });
    // a local hub-shaped server is recognised by the shape of its paths
    expect(parseSourceUrl('http://127.0.0.1:4321/datasets/o/n/tree/main/v')).toMatchObject({ kind: 'hub-folder', hub: 'http://127.0.0.1:4321', path: 'v' });
    expect(parseSourceUrl('https://example.org/files/vectors.npy')).toEqual({ kind: 'url', url: 'https://example.org/files/vectors.npy' });
  });

  it('refuses what it cannot understand with a HubError sentence', () => {
    for (const bad of ['not a url', 'ftp://x/y.pt', 'hf://datasets/only-owner', 'https://huggingface.co/datasets/o/n/tree']) {
      let err: unknown;
      try {
        parseSourceUrl(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(HubError);
      expect((err as HubError).code).toBe('bad-url');
      expect((err as HubError).message).toMatch(/\.$/);
    }
  });
});

describe('malformed percent-escapes', () => {
  const cases = [
    'https://huggingface.co/datasets/o/n/tree/main/bad%zzfolder',
    'https://huggingface.co/datasets/o/n/resolve/main/a/100%.pt',
    'https://huggingface.co/o/n/tree/re%E0%A4v/x',
    'hf://datasets/o/n/dir%/x.pt',
    'hf://datasets/o/n@v%2/x.pt',
    'http://127.0.0.1:9/o/n/resolve/main/half%C3.pt',
  ];
  it.each(cases)('%s -> HubError bad-url with one sentence, not a URIError', (input) => {
    let err: unknown;
    try {
      parseSourceUrl(input, 'http://127.0.0.1:9');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HubError);
    expect((err as HubError).code).toBe('bad-url');
    expect((err as HubError).message).toMatch(/^".+" has a malformed percent-escape near "%[^"]*" \(write % as %25\)\.$/);
  });

  it('a plain file URL with a malformed escape in its name fails as bad-url before any request', async () => {
    const { loadUrlFile } = await import('./load');
    let requests = 0;
    const fetchSpy = (async () => {
      requests++;
      return new Response('x');
    }) as unknown as typeof fetch;
    await expect(loadUrlFile('http://127.0.0.1:9/files/v%zz.pt', { fetch: fetchSpy })).rejects.toMatchObject({ code: 'bad-url', name: 'HubError' });
    expect(requests).toBe(0);
    await expect(loadUrlFile('not a url', { fetch: fetchSpy })).rejects.toMatchObject({ code: 'bad-url' });
  });

  it('well-formed escapes still decode', () => {
    expect(parseSourceUrl('https://huggingface.co/datasets/o/n/resolve/main/a%20b/100%25.pt')).toMatchObject({ kind: 'hub-file', path: 'a b/100%.pt' });
  });
});

describe('official release', () => {
  it('lists the release files per model', () => {
    expect(ROLE_NAMES).toHaveLength(275);
    expect(TRAIT_NAMES).toHaveLength(240);
    expect(new Set(ROLE_NAMES).size).toBe(275);
    expect(new Set(TRAIT_NAMES).size).toBe(240);
    expect(RELEASE_MODELS.map((m) => m.id)).toEqual(['gemma-2-27b', 'qwen-3-32b', 'llama-3.3-70b']);
    const gemma = releaseFiles('gemma-2-27b');
    expect(gemma).toHaveLength(2 + 275 + 240);
    expect(gemma).not.toContain('capping_config.pt');
    expect(gemma).toContain('role_vectors/ghost.pt');
    const qwen = releaseFiles('qwen-3-32b', { traits: false });
    expect(qwen).toHaveLength(3 + 275);
    expect(qwen.slice(0, 3)).toEqual(['assistant_axis.pt', 'default_vector.pt', 'capping_config.pt']);
    // FORMATS.md: 275 Qwen3 32B role files are ~180 MB
    const est = releaseSizeEstimate('qwen-3-32b', { traits: false });
    expect(est).toBeGreaterThan(170e6);
    expect(est).toBeLessThan(190e6);
    expect(() => releaseFiles('gpt-5')).toThrow(/not a model of the release/);
  });
});
