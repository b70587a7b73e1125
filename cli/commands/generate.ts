/**
 * `persona-space generate <model-dir> --prompt TEXT ...`: chat with a local ONNX model (a folder in
 * transformers.js layout, e.g. made by `persona-space model build`) on onnxruntime-node, with
 * optional steering, capping and per-token projections of resid_post on an axis.
 */
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { capFlags, GREEDY, layerFlag, readVectorFile, SAMPLING_FLAGS, samplingFlags, STEER_CAP_FLAGS, steerFlags } from '../model-flags';
import { loadCliModel, MODEL_FLAGS } from '../model-folder';
import { parseCommand } from '../persona-args';
import { PersonaSpaceError } from '../../src/core/errors';
import { axisBundleFromTensor } from '../../src/core/chat/axis';
import { parseConfig } from '../../src/core/lm/config';
import { LmEngine } from '../../src/core/lm/generate';
import { buildInterventions } from '../../src/core/lm/interventions';
import { stopTokenIds } from '../../src/core/lm/model-source';
import { createSession, type Ort } from '../../src/core/lm/ort';
import { ChatTokenizer, type ChatMessage } from '../../src/core/lm/tokenizer';
import { instrumentDecoder } from '../../src/core/onnx/instrument';

const HELP = `usage: persona-space generate <model-dir> --prompt TEXT [--system TEXT] [--max-tokens N] [--seed N]
         [--temperature T] [--top-k K] [--top-p P]
         [--steer FILE --steer-layers 3,4 --alpha A]
         [--cap FILE --cap-layers 3,4 (--tau T | --tau-file FILE | --percentile P --calibration FILE)]
         [--axis FILE [--layer L]] [--dtype fp32|fp16|q8|int8|uint8|q4|q4f16 | --onnx onnx/NAME.onnx] [--json]
<model-dir>: a folder in transformers.js layout, hf:owner/name[@revision], or synthetic[:SEED].
FILE: .npy, .safetensors or .pt holding (d,) or (n_layers, d); row L is used at layer L. Layers are 0-based
decoder blocks; a window is 3,4 or 10-20. Steering adds alpha * v/|v|; capping keeps h . v/|v| >= tau. Default: greedy, 128 tokens.`;

export { readModelFolder } from '../model-folder';

const GENERATE_FLAGS = ['prompt', 'system', 'axis', 'layer', 'json', 'help', ...SAMPLING_FLAGS, ...STEER_CAP_FLAGS, ...MODEL_FLAGS];

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, [...GENERATE_FLAGS], 'generate');
  if (args.flags.has('help')) {
    io.out(HELP);
    return 0;
  }
  const dir = args.positionals[0];
  if (!dir || args.positionals.length > 1) throw new UsageError('give one model folder.\n' + HELP);
  const prompt = flagString(args, 'prompt');
  if (prompt === undefined) throw new UsageError('--prompt TEXT is required.');
  const system = flagString(args, 'system');
  const { maxTokens: maxNewTokens, seed, temperature, topK, topP } = samplingFlags(args, GREEDY);

  const { files: mf } = await loadCliModel(dir, args);
  const config = parseConfig(mf.config);
  const dims = { numLayers: config.numLayers, hiddenSize: config.hiddenSize };
  const layer = layerFlag(args, dims.numLayers, false);

  const steerTerm = await steerFlags(args);
  const capTerm = await capFlags(args);
  const steer = steerTerm ? [steerTerm] : [];
  const cap = capTerm ? [capTerm] : [];
  const axisFile = flagString(args, 'axis');
  const axis = axisFile ? axisBundleFromTensor(await readVectorFile(axisFile, 'axis'), dims, path.basename(axisFile)).axis : null;
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
