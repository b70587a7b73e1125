import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main, type CliIO } from '../main';
import { writeNpy } from '../../src/core/formats/npy';
import { buildDecoder } from '../../src/core/lm/builder';
import { randomCheckpoint } from '../../src/core/lm/checkpoint';
import { parseConfig, tinyConfigJson } from '../../src/core/lm/config';
import { lenmlTokenizer, lenmlTokenizerFiles } from '../../src/core/chat/tokenizers.testkit';
import { LmEngine, projectSequence } from '../../src/core/lm/generate';
import { buildInterventions } from '../../src/core/lm/interventions';
import { syntheticConfig } from '../../src/core/lm/model-source';
import { createSession, type Ort } from '../../src/core/lm/ort';
import { syntheticTokenizerFiles } from '../../src/core/lm/tokenizer';
import { instrumentDecoder } from '../../src/core/onnx/instrument';
import { CALIBRATION_LEVELS, type Calibration } from '../../src/core/persona/axis-bundle';
import { tensorFromF32 } from '../../src/core/tensor';

function capture(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

interface ChatJson {
  ids: number[];
  mode: string;
  messages: { role: string; content: string; span: [number, number]; projection: number | null; projections: number[] | null; clamped: number }[];
  cap: { layers: number[]; tau: number[] } | null;
}

describe('persona-space chat', () => {
  const L = 4;
  const d = 64;
  let dir: string;
  let model: string;
  let engine: LmEngine;
  const axis = new Float32Array(L * d).map((_, i) => Math.sin(i * 0.37) + 0.1 * Math.cos(i));
  const vec = axis.slice(2 * d, 3 * d);
  const file = (n: string) => path.join(dir, n);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ps-chat-'));
    model = path.join(dir, 'model');
    mkdirSync(path.join(model, 'onnx'), { recursive: true });
    const config = syntheticConfig();
    const built = buildDecoder(randomCheckpoint(config, { seed: 4 }), { style: 'genai', dtype: 'fp32' });
    writeFileSync(path.join(model, 'onnx', built.fileName), built.onnx);
    writeFileSync(path.join(model, 'config.json'), JSON.stringify(config));
    const tok = syntheticTokenizerFiles();
    writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tok.tokenizerJSON));
    writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    writeFileSync(file('axis.npy'), writeNpy(tensorFromF32(axis, [L, d])));
    writeFileSync(file('vec.npy'), writeNpy(tensorFromF32(vec, [d])));
    writeFileSync(file('bad-axis.npy'), writeNpy(tensorFromF32(new Float32Array(3 * 10), [3, 10])));
    writeFileSync(
      file('transcript.json'),
      JSON.stringify({
        model: 'someone/else',
        conversation: [
          { role: 'user', content: 'I keep replaying an email from my advisor.' },
          { role: 'assistant', content: 'That sounds stressful. What did it say?' },
          { role: 'user', content: 'Do you ever get anxious?' },
          { role: 'assistant', content: 'I am an AI, so not the way you do.' },
        ],
      }),
    );
    // A calibration whose k-th percentile at layer l is l + k / 100.
    const cal: Calibration = {
      format: 'persona-space-calibration', version: 1, basis: 'rollouts', numLayers: L, levels: [...CALIBRATION_LEVELS],
      role: { count: 10, percentiles: Array.from({ length: L }, (_, l) => CALIBRATION_LEVELS.map((k) => l + k / 100)) },
      default: null,
      all: { count: 10, percentiles: Array.from({ length: L }, (_, l) => CALIBRATION_LEVELS.map((k) => l + k / 100)) },
    };
    writeFileSync(file('calibration.json'), JSON.stringify(cal));
    // The independent reference: a teacher-forced forward of the printed ids, no cache.
    const cfg = parseConfig(config);
    const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
    engine = new LmEngine(ortNode, await createSession(ortNode as unknown as Ort, inst, { logSeverityLevel: 3 }), cfg);
  });
  afterAll(async () => {
    await engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runJson(args: string[]): Promise<ChatJson> {
    const io = capture();
    const code = await main(['chat', model, '--axis', file('axis.npy'), '--layer', '2', ...args, '--json'], io);
    if (code !== 0) throw new Error(io.stderr.join('\n'));
    return JSON.parse(io.stdout.join(''));
  }

  /** Each message's projection = the mean over its span of resid_post[L] . axis[L]/|axis[L]| from one forward of ids. */
  async function expectReference(out: ChatJson, terms: Parameters<typeof buildInterventions>[1] = {}) {
    const iv = buildInterventions({ numLayers: L, hiddenSize: d }, terms);
    const r = await engine.forward(out.ids, { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau });
    const proj = projectSequence(r, { numLayers: L, hiddenSize: d }, axis)!;
    for (const m of out.messages) {
      const [s, e] = m.span;
      if (e <= s) {
        // An empty answer (the model stopped at once) has no content tokens and no value.
        expect(m.projections).toBeNull();
        continue;
      }
      for (let l = 0; l < L; l++) {
        let acc = 0;
        for (let p = s; p < e; p++) acc += proj[p][l];
        expect(Math.abs(m.projections![l] - acc / (e - s))).toBeLessThan(1e-5);
      }
      expect(m.projection).toBe(m.projections![2]);
    }
  }

  it('--replay teacher-forces the transcript: spans are the content tokens, projections match an independent forward', async () => {
    const out = await runJson(['--transcript', file('transcript.json'), '--replay']);
    expect(out.mode).toBe('replay');
    expect(out.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    // The byte tokenizer: a span is exactly the content's UTF-8 bytes.
    for (const m of out.messages) expect(out.ids.slice(...m.span)).toEqual([...new TextEncoder().encode(m.content)]);
    await expectReference(out);
  });

  it('without --replay each assistant turn is generated (the transcript answers are not used), deterministic', async () => {
    const args = ['--transcript', file('transcript.json'), '--max-tokens', '6'];
    const out = await runJson(args);
    expect(out.mode).toBe('generate');
    expect(out.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(out.messages[1].content).not.toBe('That sounds stressful. What did it say?');
    await expectReference(out);
    expect((await runJson(args)).ids).toEqual(out.ids);
  });

  it('--prompt with steering matches the reference with the same steering; steering moves the steered layer', async () => {
    const plain = await runJson(['--prompt', 'Who are you?', '--system', 'Be brief.', '--max-tokens', '5']);
    expect(plain.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant']);
    await expectReference(plain);
    const steer = ['--steer', file('vec.npy'), '--steer-layers', '2', '--alpha', '4'];
    const steered = await runJson(['--prompt', 'Who are you?', '--system', 'Be brief.', '--max-tokens', '5', ...steer]);
    await expectReference(steered, { steer: [{ vector: vec, layers: [2], alpha: 4 }] });
    // The system and user messages are the same tokens in both: steering along the axis at layer 2 moves
    // their layer-2 projection by alpha * cos(vec, axis[2]) = alpha (vec is axis[2]).
    expect(steered.messages[1].projections![2] - plain.messages[1].projections![2]).toBeCloseTo(4, 3);
    expect(steered.messages[1].projections![1]).toBeCloseTo(plain.messages[1].projections![1], 5);
  });

  it('capping from a calibration percentile holds the floor and matches the reference, replayed and generated', async () => {
    const cap = ['--cap', file('axis.npy'), '--cap-layers', '2,3', '--percentile', '25', '--calibration', file('calibration.json')];
    for (const extra of [['--replay'], ['--max-tokens', '4']]) {
      const out = await runJson(['--transcript', file('transcript.json'), ...extra, ...cap]);
      expect(out.cap!.tau).toEqual([2.25, 3.25]);
      await expectReference(out, { cap: [{ vector: axis, layers: [2, 3], tau: [2.25, 3.25] }] });
      for (const m of out.messages) {
        expect(m.projections![2]).toBeGreaterThanOrEqual(2.25 - 1e-4);
        expect(m.projections![3]).toBeGreaterThanOrEqual(3.25 - 1e-4);
      }
      expect(out.messages.some((m) => m.clamped > 0)).toBe(true);
    }
  });

  it('fails with one clear line on bad input', async () => {
    const io = capture();
    expect(await main(['chat', model, '--axis', file('bad-axis.npy'), '--layer', '1', '--prompt', 'x'], io)).toBe(1);
    expect(io.stderr.join('')).toMatch(/shape \(3, 10\).*\(4, 64\) or \(64,\)/);
    const io2 = capture();
    expect(await main(['chat', model, '--axis', file('axis.npy'), '--prompt', 'x'], io2)).toBe(2);
    expect(io2.stderr.join('')).toMatch(/--layer/);
    const io3 = capture();
    expect(await main(['chat', model, '--axis', file('axis.npy'), '--layer', '1', '--prompt', 'x', '--transcript', file('transcript.json')], io3)).toBe(2);
    const io4 = capture();
    expect(await main(['chat', model, '--axis', file('axis.npy'), '--layer', '1', '--transcript', file('calibration.json')], io4)).toBe(1);
    expect(io4.stderr.join('')).toMatch(/no "conversation" list/);
    const io5 = capture();
    expect(await main(['chat', model, '--axis', file('axis.npy'), '--layer', '1', '--prompt', 'x', '--cap', file('vec.npy'), '--cap-layers', '2', '--percentile', '25'], io5)).toBe(2);
    expect(io5.stderr.join('')).toMatch(/--percentile and --calibration/);
  });
});

describe('persona-space chat with the real Qwen3 tokenizer and template (tiny random model of its vocabulary)', () => {
  const L = 3;
  const d = 16;
  let dir: string;
  let model: string;
  let engine: LmEngine;
  const axis = new Float32Array(L * d).map((_, i) => Math.sin(i * 0.7) + 0.2);
  const file = (n: string) => path.join(dir, n);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ps-chat-qwen-'));
    model = path.join(dir, 'model');
    mkdirSync(path.join(model, 'onnx'), { recursive: true });
    const config = tinyConfigJson('qwen3', {
      hidden_size: d, intermediate_size: 32, num_hidden_layers: L, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8,
      vocab_size: 151669, eos_token_id: [151645, 151643], max_position_embeddings: 4096, tie_word_embeddings: true,
    });
    const built = buildDecoder(randomCheckpoint(parseConfig(config), { seed: 6 }), { style: 'optimum', dtype: 'fp32' });
    writeFileSync(path.join(model, 'onnx', built.fileName), built.onnx);
    writeFileSync(path.join(model, 'config.json'), JSON.stringify(config));
    const tok = lenmlTokenizerFiles('qwen3');
    writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(tok.tokenizerJSON));
    writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify(tok.tokenizerConfig));
    writeFileSync(file('axis.npy'), writeNpy(tensorFromF32(axis, [L, d])));
    writeFileSync(
      file('t.json'),
      JSON.stringify({ conversation: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'My advisor wrote one line: "Looks fine." Is that bad?' },
        { role: 'assistant', content: 'Not necessarily — short emails are often just busy ones.' },
        { role: 'user', content: 'Do you ever worry about being replaced?' },
        { role: 'assistant', content: 'I am an AI model; I do not worry the way people do.' },
      ] }),
    );
    const cfg = parseConfig(config);
    const inst = instrumentDecoder(built.onnx, { hiddenSize: cfg.hiddenSize });
    engine = new LmEngine(ortNode, await createSession(ortNode as unknown as Ort, inst, { logSeverityLevel: 3 }), cfg);
  }, 120_000);
  afterAll(async () => {
    await engine?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('replayed and generated, plain, steered and capped: projections equal an independent forward over the content spans', async () => {
    const steer = ['--steer', file('axis.npy'), '--steer-layers', '1', '--alpha', '3'];
    const cap = ['--cap', file('axis.npy'), '--cap-layers', '1,2', '--tau', '0.3'];
    const cases: [string[], Parameters<typeof buildInterventions>[1]][] = [
      [[], {}],
      [steer, { steer: [{ vector: axis, layers: [1], alpha: 3 }] }],
      [cap, { cap: [{ vector: axis, layers: [1, 2], tau: 0.3 }] }],
    ];
    for (const mode of [['--replay'], ['--max-tokens', '5']]) {
      for (const [flags, terms] of cases) {
        const io = capture();
        const code = await main(['chat', model, '--axis', file('axis.npy'), '--layer', '1', '--transcript', file('t.json'), ...mode, ...flags, '--json'], io);
        if (code !== 0) throw new Error(io.stderr.join('\n'));
        const out: ChatJson = JSON.parse(io.stdout.join(''));
        expect(out.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
        if (mode[0] === '--replay') {
          // Content spans: the content only (the template header and <|im_end|> are outside).
          const tk = await lenmlTokenizer('qwen3');
          for (const m of out.messages) expect(tk.decode(out.ids.slice(...m.span), false)).toBe(m.content);
        }
        const iv = buildInterventions({ numLayers: L, hiddenSize: d }, terms);
        const r = await engine.forward(out.ids, { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau });
        const proj = projectSequence(r, { numLayers: L, hiddenSize: d }, axis)!;
        for (const m of out.messages) {
          const [s, e] = m.span;
          if (e <= s) continue;
          for (let l = 0; l < L; l++) {
            let acc = 0;
            for (let p = s; p < e; p++) acc += proj[p][l];
            expect(Math.abs(m.projections![l] - acc / (e - s))).toBeLessThan(1e-5);
          }
        }
      }
    }
  }, 120_000);
});
