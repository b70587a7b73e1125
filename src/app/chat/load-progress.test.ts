/** Load stages after the downloads in the shared model-load progress (load-progress.ts): rows of their own, said in words. */
import { describe, expect, it } from 'vitest';
import type { ModelLoadProgress } from '../../core/lm/model-source';
import { loadStageText, progressValue, trackLoadProgress } from './load-progress';

describe('load stages in the model-load progress', () => {
  it('a stage is a row of its own after the files, keeps its unit, is throttled like a file and always passes its last step', () => {
    let t = 0;
    const seen: string[][] = [];
    const tr = trackLoadProgress((v) => seen.push(v.files.map((f) => (f.stage ? loadStageText(f) : `${f.file} ${f.loaded}`))), 60, () => t);
    const file = (f: string, loaded: number): ModelLoadProgress => ({ file: f, loaded, total: loaded, filesDone: 1, filesTotal: 1 });
    const prep = (loaded: number): ModelLoadProgress => ({ file: 'Preparing weights for our int8 decoder', loaded, total: 9, filesDone: 1, filesTotal: 1, stage: { unit: 'linears' } });
    tr.onProgress(file('onnx/model.onnx', 100));
    t = 100; tr.onProgress(prep(0));
    t = 110; tr.onProgress(prep(4)); // throttled
    t = 200; tr.onProgress(prep(5));
    t = 210; tr.onProgress(prep(9)); // the last step: passed at once
    expect(seen).toEqual([
      ['onnx/model.onnx 100'],
      ['onnx/model.onnx 100', 'Preparing weights for our int8 decoder — 0 of 9 linears'],
      ['onnx/model.onnx 100', 'Preparing weights for our int8 decoder — 5 of 9 linears'],
      ['onnx/model.onnx 100', 'Preparing weights for our int8 decoder — 9 of 9 linears'],
    ]);
    const rows = tr.view().files;
    expect(rows.map((f) => f.stage ?? null)).toEqual([null, { unit: 'linears' }]);
    expect(tr.view().last?.stage).toEqual({ unit: 'linears' });
  });

  it('a stage with no count says it is under way, then done', () => {
    expect(loadStageText({ file: 'Converting 4-bit weights to int8', loaded: 0, total: null, stage: { unit: '' } })).toBe('Converting 4-bit weights to int8…');
    expect(loadStageText({ file: 'Converting 4-bit weights to int8', loaded: 1, total: 1, stage: { unit: '' } })).toBe('Converting 4-bit weights to int8 — done');
    expect(loadStageText({ file: 'Preparing weights for our int8 decoder', loaded: 57, total: 113, stage: { unit: 'linears' } })).toBe('Preparing weights for our int8 decoder — 57 of 113 linears');
  });

  it("a stage's bar follows its fraction of weights (inside the lm_head the count stands still, the bar does not); files and stages without one: loaded of total", () => {
    const prep = (loaded: number, fraction?: number) => ({ file: 'Preparing weights for our int8 decoder', loaded, total: 113, stage: { unit: 'linears', ...(fraction === undefined ? {} : { fraction }) } });
    expect(progressValue(prep(112, 0.7))).toBe(0.7);
    expect(progressValue(prep(112, 0.9))).toBe(0.9);
    // the text says the share too while under way (the count stands still inside the lm_head), not once done
    expect(loadStageText(prep(112, 0.7))).toBe('Preparing weights for our int8 decoder — 112 of 113 linears, 70% of the weights');
    expect(loadStageText(prep(112, 0.999))).toBe('Preparing weights for our int8 decoder — 112 of 113 linears, 99% of the weights');
    expect(loadStageText(prep(113, 1))).toBe('Preparing weights for our int8 decoder — 113 of 113 linears');
    expect(loadStageText(prep(57))).toBe('Preparing weights for our int8 decoder — 57 of 113 linears');
    expect(progressValue(prep(57))).toBeCloseTo(57 / 113, 12);
    expect(progressValue(prep(3, 1.5))).toBe(1);
    expect(progressValue(prep(3, -1))).toBe(0);
    expect(progressValue(prep(3, NaN))).toBeCloseTo(3 / 113, 12);
    expect(progressValue({ loaded: 50, total: 200 })).toBe(0.25);
    expect(progressValue({ loaded: 50, total: null })).toBe(0);
    expect(progressValue({ loaded: 0, total: 0 })).toBe(0);
  });
});
