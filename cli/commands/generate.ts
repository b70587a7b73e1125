/**
 * `persona-space generate <model-dir> --prompt TEXT ...`: chat with a local ONNX model (a folder in
 * transformers.js layout, e.g. made by `persona-space model build`) on onnxruntime-node, with
 * optional steering, capping and per-token projections of resid_post on an axis.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { flagInt, flagNumber, flagString, parseArgs, UsageError } from '../args';
import type { CliIO } from '../main';
import { capFlags, readVectorFile, steerFlags } from '../model-flags';
import { DataError, PersonaSpaceError } from '../../src/core/errors';
import { axisBundleFromTensor } from '../../src/core/chat/axis';
import { parseConfig } from '../../src/core/lm/config';
import { LmEngine } from '../../src/core/lm/generate';
import { buildInterventions } from '../../src/core/lm/interventions';
import { loadModelFiles, stopTokenIds, DTYPE_SUFFIX, type ModelDtype } from '../../src/core/lm/model-source';
import { createSession, type Ort } from '../../src/core/lm/ort';
import { ChatTokenizer, type ChatMessage } from '../../src/core/lm/tokenizer';
import { instrumentDecoder } from '../../src/core/onnx/instrument';

const HELP = `usage: persona-space generate <model-dir> --prompt TEXT [--system TEXT] [--max-tokens N] [--seed N]
         [--temperature T] [--top-k K] [--top-p P]
         [--steer FILE --steer-layers 3,4 --alpha A]
         [--cap FILE --cap-layers 3,4 (--tau T | --tau-file FILE)]
         [--axis FILE [--layer L]] [--dtype fp32|fp16|q8|q4|q4f16 | --onnx onnx/NAME.onnx] [--json]
FILE: .npy or .safetensors holding (d,) or (n_layers, d); row L is used at layer L. Layers are 0-based
decoder blocks. Steering adds alpha * v/|v|; capping keeps h . v/|v| >= tau. Default: greedy, 128 tokens.`;

/** The files of a local model folder that a source needs: top-level JSON files and the chosen ONNX model with its external data. */
export async function readModelFolder(dir: string, dtype?: ModelDtype, onnxFile?: string): Promise<{ files: Record<string, Uint8Array>; onnxFile: string }> {
  let onnxNames: string[] = [];
  try {
    onnxNames = (await readdir(path.join(dir, 'onnx'))).sort();
  } catch {
    throw new DataError('model-folder', `"${dir}" has no onnx/ folder; expected a model in transformers.js layout (config.json, tokenizer files, onnx/model*.onnx).`);
  }
  let chosen = onnxFile;
  if (!chosen) {
    const order: ModelDtype[] = dtype ? [dtype] : ['fp32', 'q4', 'fp16', 'q4f16', 'q8'];
    const hit = order.map((d) => `model${DTYPE_SUFFIX[d]}.onnx`).find((n) => onnxNames.includes(n));
    if (!hit) throw new DataError('model-folder', `"${dir}/onnx" has no ${dtype ? `model${DTYPE_SUFFIX[dtype]}.onnx` : 'model*.onnx'} (found: ${onnxNames.join(', ') || 'nothing'}).`);
    chosen = `onnx/${hit}`;
  }
  const base = path.posix.basename(chosen);
  const files: Record<string, Uint8Array> = {};
  const read = async (rel: string, optional = false) => {
    try {
      files[rel] = new Uint8Array(await readFile(path.join(dir, rel)));
    } catch (e) {
      if (!optional) throw e;
    }
  };
  await Promise.all([
    read('config.json'),
    read('generation_config.json', true),
    read('tokenizer.json'),
    read('tokenizer_config.json'),
    read(chosen),
    // External data lives next to the model: model.onnx_data, model.onnx_data_1, ...
    ...onnxNames.filter((n) => n.startsWith(base + '_data') || n.startsWith(base + '.data')).map((n) => read(`onnx/${n}`, true)),
  ]);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    if (!files[f]) throw new DataError('model-folder', `"${dir}" has no ${f}.`);
  }
  return { files, onnxFile: chosen };
}

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv);
  if (args.flags.has('help')) {
    io.out(HELP);
    return 0;
  }
  const dir = args.positionals[0];
  if (!dir || args.positionals.length > 1) throw new UsageError('give one model folder.\n' + HELP);
  const prompt = flagString(args, 'prompt');
  if (prompt === undefined) throw new UsageError('--prompt TEXT is required.');
  const system = flagString(args, 'system');
  const maxNewTokens = flagInt(args, 'max-tokens') ?? 128;
  const seed = flagInt(args, 'seed') ?? 0;
  const temperature = flagNumber(args, 'temperature') ?? 0;
  const topK = flagInt(args, 'top-k') ?? 0;
  const topP = flagNumber(args, 'top-p') ?? 1;
  const dtype = flagString(args, 'dtype') as ModelDtype | undefined;
  if (dtype && !(dtype in DTYPE_SUFFIX)) throw new UsageError(`--dtype must be one of ${Object.keys(DTYPE_SUFFIX).join(', ')}.`);
  const layer = flagInt(args, 'layer');

  const { files, onnxFile } = await readModelFolder(dir, dtype, flagString(args, 'onnx'));
  const mf = await loadModelFiles({ kind: 'files', files, onnxFile, label: dir });
  const config = parseConfig(mf.config);
  const dims = { numLayers: config.numLayers, hiddenSize: config.hiddenSize };

  const steerTerm = await steerFlags(args);
  const capTerm = await capFlags(args);
  const steer = steerTerm ? [steerTerm] : [];
  const cap = capTerm ? [capTerm] : [];
  const axisFile = flagString(args, 'axis');
  const axis = axisFile ? axisBundleFromTensor(await readVectorFile(axisFile, 'axis'), dims, path.basename(axisFile)).axis : null;
  if (layer !== undefined && (layer < 0 || layer >= dims.numLayers)) throw new UsageError(`--layer must be between 0 and ${dims.numLayers - 1}.`);
  const iv = buildInterventions(dims, { steer, cap });

  const tokenizer = await ChatTokenizer.fromFiles(mf.tokenizer);
  const inst = instrumentDecoder(mf.model, { externalData: mf.externalData, hiddenSize: config.hiddenSize });
  // fatal-only logging: onnxruntime's coloured log lines stay off the terminal (errors are thrown)
  const session = await createSession(ortNode as unknown as Ort, inst, { graphOptimizationLevel: 'all', logSeverityLevel: 4 }).catch((e: Error) => {
    throw new PersonaSpaceError('model-load', `onnxruntime could not load the model: ${e.message.split('\n')[0]}`);
  });
  const engine = new LmEngine(ortNode, session, config);
  try {
    const messages: ChatMessage[] = [...(system !== undefined ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: prompt }];
    const { ids: promptIds } = tokenizer.chatPrompt(messages);
    const res = await engine.generate(promptIds, {
      maxNewTokens,
      seed,
      stopIds: stopTokenIds(mf.config, mf.generationConfig, tokenizer.eosId),
      params: { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau, axis, sampling: { temperature, topK, topP } },
      decoder: tokenizer.streamDecoder(),
      onToken: args.flags.has('json') ? undefined : (e) => void (e.text && process.stdout.write(e.text)),
    });
    const round = (x: number) => Math.round(x * 1e6) / 1e6;
    const projections = axis ? res.projections.map((p) => (p ? (layer !== undefined ? round(p[layer]) : Array.from(p, round)) : null)) : [];
    if (args.flags.has('json')) {
      io.out(
        JSON.stringify({
          text: res.text,
          tokens: res.ids,
          projections,
          projection_layer: axis ? (layer ?? null) : undefined,
          stop_reason: res.stopReason,
          prompt_tokens: res.promptTokens,
          prefill_tokens_per_second: round(res.prefillTokensPerSecond),
          decode_tokens_per_second: round(res.decodeTokensPerSecond),
        }),
      );
    } else {
      io.out('');
      io.err(
        `[${res.ids.length} tokens, ${res.stopReason}; prefill ${res.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${res.decodeTokensPerSecond.toFixed(1)} tok/s]`,
      );
    }
    return 0;
  } finally {
    await engine.dispose();
  }
}
