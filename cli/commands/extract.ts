/**
 * `persona-space extract <model-dir> ...`: this model's own persona space — role vectors, the
 * default vector and the Assistant Axis — from rollouts of the paper's role prompts and questions,
 * written in the release layout (+ rollouts.jsonl, calibration.json, extraction.json). Running it
 * again with the same --out resumes: finished rollouts are not generated again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { flagInt, flagList, flagNumber, flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { assistantAxisData, ASSISTANT_AXIS_BASE, CREDIT, type AssistantAxisData } from '../../src/core/data/assistant-axis-data';
import { DataError } from '../../src/core/errors';
import { engineBackend } from '../../src/core/extract/backend';
import { requireChatTemplate } from '../../src/core/extract/chat';
import { runExtraction, type ExtractProgress } from '../../src/core/extract/pipeline';
import { normalizeSettings, PRESETS, REFERENCE_SAMPLING, type ExtractSettings, type PresetName } from '../../src/core/extract/presets';
import { releaseFiles } from '../../src/core/extract/release';
import { parseConfig } from '../../src/core/lm/config';
import { LmEngine } from '../../src/core/lm/generate';
import { stopTokenIds } from '../../src/core/lm/model-source';
import { createSession, type Ort } from '../../src/core/lm/ort';
import { ChatTokenizer } from '../../src/core/lm/tokenizer';
import { instrumentDecoder } from '../../src/core/onnx/instrument';
import { FolderRolloutStore } from './extract-store';
import { loadCliModel } from '../model-folder';
import { samplingFlags } from '../model-flags';
import { parseCommand, wantsJson } from '../persona-args';

const HELP = `usage: persona-space extract <model-dir> [--roles a,b,... | --preset quick|standard|full] [--traits a,b,...]
         [--prompts K] [--questions N] [--max-tokens T] [--batch B] [--seed S] [--data DIR-or-URL] --out DIR [--json]
         [--default-prompts K] [--default-questions N] [--temperature T] [--top-p P] [--stop-at C]
         [--model-name NAME] [--dtype fp32|fp16|q8|int8|uint8|q4|q4f16 | --onnx onnx/NAME.onnx]
<model-dir>: a folder in transformers.js layout, hf:owner/name[@revision], or synthetic[:SEED]
--preset     quick: 50 roles x 2 prompts x 6 questions, default 5 x 20; standard: 275 roles x 2 x 4; full: 275 x 5 x 240
--prompts K  the first K system prompts of each role and of the default; --questions N the first N of the 240 questions
--data       the paper's data: a local copy of safety-research/assistant-axis, or a mirror URL (default: GitHub, pinned, cached)
--stop-at C  stop once the split-half cosine of the axis at the middle layer reaches C (e.g. 0.95)
Sampling defaults to the reference (temperature 0.7, top-p 0.9); --temperature 0 is greedy.
Writes role_vectors/<role>.pt, default_vector.pt, assistant_axis.pt, persona_space.safetensors, calibration.json,
rollouts.jsonl (+ rollout_means.f32) and extraction.json. Run again with the same --out to resume.
${CREDIT}.`;

const FLAGS = ['roles', 'preset', 'traits', 'prompts', 'questions', 'max-tokens', 'batch', 'seed', 'data', 'out', 'json', 'help', 'default-prompts', 'default-questions', 'temperature', 'top-p', 'stop-at', 'model-name', 'dtype', 'onnx', 'hub'];

/** Settings that change what a finished rollout is: a resumed run must keep them. */
const FIXED: (keyof ExtractSettings)[] = ['maxNewTokens', 'seed', 'temperature', 'topP'];

/** The paper's data for the CLI: a folder, a mirror URL, or GitHub with a cache folder. */
export function cliPaperData(spec: string | undefined): AssistantAxisData {
  if (spec && !/^https?:\/\//i.test(spec)) {
    const root = path.resolve(spec);
    if (!existsSync(path.join(root, 'data'))) throw new DataError('data-folder', `"${spec}" has no data/ folder; give a copy of the safety-research/assistant-axis repository (or a URL).`);
    const base = 'file://paper-data';
    const fetchFile: typeof fetch = async (url) => {
      const full = path.resolve(root, String(url).slice(base.length + 1));
      if (!full.startsWith(root + path.sep) || !existsSync(full) || !statSync(full).isFile()) return new Response('not found', { status: 404 });
      return new Response(new Uint8Array(await readFile(full)));
    };
    return assistantAxisData({ base, fetch: fetchFile });
  }
  const cacheDir = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'persona-space', 'paper-data');
  const file = (key: string) => path.join(cacheDir, createHash('sha256').update(key).digest('hex').slice(0, 32));
  const cache = {
    async get(key: string) {
      try {
        return new Uint8Array(readFileSync(file(key)));
      } catch {
        return null;
      }
    },
    async put(key: string, bytes: Uint8Array) {
      try {
        mkdirSync(cacheDir, { recursive: true });
        writeFileSync(file(key), bytes);
        return true;
      } catch {
        return false;
      }
    },
  };
  return assistantAxisData({ base: spec ?? ASSISTANT_AXIS_BASE, cache });
}

function settingsFrom(args: ReturnType<typeof parseCommand>): ExtractSettings {
  const preset = flagString(args, 'preset') as PresetName | undefined;
  const roles = flagList(args, 'roles');
  const traits = flagList(args, 'traits') ?? [];
  if (preset && roles) throw new UsageError('give --roles or --preset, not both.');
  if (preset && !(preset in PRESETS)) throw new UsageError(`--preset must be quick, standard or full (got "${preset}").`);
  if (!preset && !roles && traits.length === 0) throw new UsageError('give --roles a,b,..., --traits a,b,... or --preset quick|standard|full.');
  const p = preset ? PRESETS[preset] : null;
  const prompts = flagInt(args, 'prompts');
  const questions = flagInt(args, 'questions');
  // The same checks as generate and chat; extraction's defaults are the paper's sampling.
  const sampling = samplingFlags(args, { maxTokens: 64, seed: 0, temperature: REFERENCE_SAMPLING.temperature, topP: REFERENCE_SAMPLING.topP, topK: 0 });
  return normalizeSettings({
    roles: p ? [...p.roles] : (roles ?? []),
    traits,
    prompts: prompts ?? p?.prompts ?? 2,
    questions: questions ?? p?.questions ?? 4,
    defaultPrompts: flagInt(args, 'default-prompts') ?? prompts ?? p?.defaultPrompts ?? 5,
    defaultQuestions: flagInt(args, 'default-questions') ?? questions ?? p?.defaultQuestions ?? 20,
    maxNewTokens: sampling.maxTokens,
    batch: flagInt(args, 'batch') ?? 8,
    seed: sampling.seed,
    temperature: sampling.temperature,
    topP: sampling.topP,
    stopAt: flagNumber(args, 'stop-at') ?? null,
    preset: preset ?? 'custom',
  });
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, FLAGS, 'extract');
  if (args.flags.get('help')) {
    io.out(HELP);
    return 0;
  }
  const dir = args.positionals[0];
  if (!dir || args.positionals.length > 1) throw new UsageError('give one model folder.\n' + HELP);
  const out = flagString(args, 'out');
  if (!out) throw new UsageError('--out DIR is required (the run is stored there and resumed from there).');
  const settings = settingsFrom(args);

  const { files: mf, onnxFile } = await loadCliModel(dir, args);
  requireChatTemplate(mf.tokenizer.tokenizerConfig, `"${dir}"`);
  const config = parseConfig(mf.config);
  const modelName = flagString(args, 'model-name') ?? modelNameOf(mf.config, dir);
  const data = cliPaperData(flagString(args, 'data'));

  mkdirSync(out, { recursive: true });
  const metaPath = path.join(out, 'extraction.json');
  const model = { dir: path.resolve(dir), name: modelName, onnx: onnxFile, numLayers: config.numLayers, hiddenSize: config.hiddenSize };
  if (existsSync(metaPath)) {
    const prev = JSON.parse(readFileSync(metaPath, 'utf8')) as { model?: typeof model; settings?: ExtractSettings };
    if (prev.model && (prev.model.numLayers !== model.numLayers || prev.model.hiddenSize !== model.hiddenSize || prev.model.name !== model.name)) {
      throw new DataError('resume-model', `"${out}" holds a run of another model (${prev.model.name}, ${prev.model.numLayers} layers x ${prev.model.hiddenSize}); use another --out.`);
    }
    for (const k of FIXED) {
      if (prev.settings && prev.settings[k] !== settings[k]) {
        throw new DataError('resume-settings', `"${out}" holds a run with ${k} = ${String(prev.settings[k])}, not ${String(settings[k])}; use the same setting to resume, or another --out.`);
      }
    }
  }
  const writeMeta = (extra: Record<string, unknown>) =>
    writeFileSync(metaPath, JSON.stringify({ format: 'persona-space-extraction', version: 1, model, settings, data: { base: data.base, credit: CREDIT }, ...extra }, null, 1) + '\n');
  writeMeta({ status: 'running' });

  const tokenizer = await ChatTokenizer.fromFiles(mf.tokenizer);
  const inst = instrumentDecoder(mf.model, { externalData: mf.externalData, hiddenSize: config.hiddenSize });
  const session = await createSession(ortNode as unknown as Ort, inst, { graphOptimizationLevel: 'all' });
  // The export style lets rows of different lengths be padded the way the graph expects.
  const engineOptions = { style: inst.info.style };
  const engine = new LmEngine(ortNode, session, config, engineOptions);
  const store = FolderRolloutStore.open(out, config.numLayers, config.hiddenSize);
  const json = wantsJson(args);
  let last = 0;
  const onProgress = (p: ExtractProgress) => {
    const now = Date.now();
    if (now - last < 1000 && p.done < p.total) return;
    last = now;
    const left = p.total - p.done;
    const eta = p.rate > 0 ? ` · about ${Math.ceil(left / p.rate)} s left` : '';
    const st = p.stability === null ? '' : ` · stability ${p.stability.toFixed(3)}`;
    io.err(`extract: ${p.done}/${p.total} rollouts${p.resumed ? ` (${p.resumed} resumed)` : ''} · ${p.rate.toFixed(2)} rollouts/s${st}${eta}`);
  };
  const ctl = new AbortController();
  const onSignal = () => ctl.abort();
  process.once('SIGINT', onSignal);
  try {
    const r = await runExtraction({ settings, data, tokenizer, backend: engineBackend(engine), store, modelName, stopIds: stopTokenIds(mf.config, mf.generationConfig, tokenizer.eosId), onProgress, signal: ctl.signal });
    const written: string[] = [];
    if (r.roles.length + r.traits.length > 0) {
      for (const f of releaseFiles(r, { metadata: { model: modelName } })) {
        const full = path.join(out, f.path);
        mkdirSync(path.dirname(full), { recursive: true });
        writeFileSync(full, f.bytes);
        written.push(f.path);
      }
    }
    const counts = { rollouts: r.counts.rollouts, planned: r.counts.planned, resumed: r.counts.resumed, generated: r.counts.generated, empty_answers: r.counts.emptyAnswers, roles: r.roles.length, traits: r.traits.length, default: r.counts.perMember.get('default') ?? 0 };
    const summary = { status: r.status, message: r.message, counts, generated_tokens: r.generatedTokens, seconds: r.seconds, stability: r.stability, middle_layer: Math.floor(config.numLayers / 2) };
    writeMeta(summary);
    if (json) io.out(JSON.stringify({ out: path.resolve(out), model: modelName, ...summary, files: written.length, credit: CREDIT }));
    else {
      io.err(r.message ?? `extract: done, ${counts.rollouts} rollouts (${counts.generated} new) in ${r.seconds.toFixed(1)} s`);
      io.out(`wrote ${written.length} files to ${out} (${r.roles.length} roles, ${r.traits.length} traits, default from ${counts.default} rollouts)\n${CREDIT}`);
    }
    return r.status === 'complete' || r.status === 'stable' ? 0 : 3;
  } finally {
    process.off('SIGINT', onSignal);
    await engine.dispose();
  }
}

function modelNameOf(config: Record<string, unknown>, dir: string): string {
  const n = config._name_or_path;
  if (typeof n === 'string' && n.trim()) return n.split('/').pop()!;
  return path.basename(path.resolve(dir));
}
