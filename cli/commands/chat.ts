/**
 * `persona-space chat <model-dir> --axis FILE --layer L (--transcript FILE | --prompt TEXT ...)`:
 * the chat lab's command-line twin. A conversation through a local ONNX model on onnxruntime-node,
 * with every message's content-token span and its projection on the Assistant Axis — the mean of
 * resid_post[L] over the span dotted with axis[L]/|axis[L]| (raw, not centred) — at the chosen layer
 * and at every layer. Steering and capping as in `model run`; the same core as the browser's lab.
 */
import * as ortNode from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { flagString, UsageError } from '../args';
import type { CliIO } from '../main';
import { capFlags, GREEDY, layerFlag, readVectorFile, SAMPLING_FLAGS, samplingFlags, STEER_CAP_FLAGS, steerFlags } from '../model-flags';
import { loadCliModel, MODEL_FLAGS } from '../model-folder';
import { parseCommand } from '../persona-args';
import { DataError, PersonaSpaceError } from '../../src/core/errors';
import { axisBundleFromTensor } from '../../src/core/chat/axis';
import { ChatRows, type ChatModel } from '../../src/core/chat/chat-rows';
import { parseTranscript, REPLAY_LABEL } from '../../src/core/chat/presets';
import { parseConfig } from '../../src/core/lm/config';
import { LmEngine } from '../../src/core/lm/generate';
import { buildInterventions } from '../../src/core/lm/interventions';
import { stopTokenIds } from '../../src/core/lm/model-source';
import { createSession, type Ort } from '../../src/core/lm/ort';
import type { Conversation } from '../../src/core/lm/rows';
import { ChatTokenizer, type ChatMessage } from '../../src/core/lm/tokenizer';
import { instrumentDecoder } from '../../src/core/onnx/instrument';

export const CHAT_USAGE = `usage: persona-space chat <model-dir> --axis FILE --layer L
         (--transcript FILE [--replay] | --prompt TEXT [--system TEXT])
         [--max-tokens N] [--seed S] [--temperature T] [--top-p P] [--top-k K]
         [--steer FILE --steer-layers a,b --alpha A]
         [--cap FILE --cap-layers a,b (--tau T | --tau-file FILE | --percentile P --calibration FILE)]
         [--dtype fp32|fp16|q8|int8|uint8|q4|q4f16 | --onnx onnx/NAME.onnx] [--json]

  <model-dir>: a folder in transformers.js layout, hf:owner/name[@revision], or synthetic[:SEED].
  Layer windows (--steer-layers, --cap-layers): 0-based decoder blocks, 3,4 or 10-20.

  --axis: (n_layers, d) or (d,) in .pt / .npy / .safetensors (e.g. the release's assistant_axis.pt).
  --transcript: the paper's transcript JSON ({"conversation": [{role, content}, ...]}); with --replay its
  answers are teacher-forced (read, not generated), without it each assistant turn is generated.
  --prompt: a one-turn chat. Default: greedy, 128 new tokens per answer.
  --json prints {"ids": [...], "messages": [{"role", "content", "span": [start, end), "projection",
  "projections": [per layer]}], ...}: span = the message's content tokens as positions in ids;
  projection = mean of resid_post[L] over the span . axis[L]/|axis[L]| (raw), after steering and capping.`;

type Mode = 'replay' | 'generate' | 'prompt';

const CHAT_FLAGS = ['axis', 'layer', 'transcript', 'replay', 'prompt', 'system', 'json', 'help', ...SAMPLING_FLAGS, ...STEER_CAP_FLAGS, ...MODEL_FLAGS];

export async function run(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, CHAT_FLAGS, 'chat', ['json', 'help', 'replay']);
  if (args.flags.has('help')) {
    io.out(CHAT_USAGE);
    return 0;
  }
  const [dir, ...extra] = args.positionals;
  if (!dir) throw new UsageError(`give the model folder.\n${CHAT_USAGE}`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}".`);
  const axisFile = flagString(args, 'axis');
  if (!axisFile) throw new UsageError('--axis FILE is required (the Assistant Axis of this model).');
  if (!args.flags.has('layer')) throw new UsageError('--layer L is required (the layer whose projection is reported; 0-based).');
  const transcriptFile = flagString(args, 'transcript');
  const prompt = flagString(args, 'prompt');
  if ((transcriptFile === undefined) === (prompt === undefined)) throw new UsageError('give exactly one of --transcript FILE or --prompt TEXT.');
  const replay = args.flags.has('replay');
  if (replay && !transcriptFile) throw new UsageError('--replay reads a transcript; give --transcript FILE.');
  const system = flagString(args, 'system');
  if (system !== undefined && transcriptFile) throw new UsageError('--system goes with --prompt; a transcript carries its own system message.');
  const { maxTokens, seed, temperature, topP, topK } = samplingFlags(args, GREEDY);

  let messages: ChatMessage[];
  let mode: Mode;
  if (transcriptFile) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(transcriptFile, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code) throw e;
      throw new DataError('transcript-format', `${path.basename(transcriptFile)} is not valid JSON.`);
    }
    messages = parseTranscript(raw, `The transcript ${path.basename(transcriptFile)}`).messages;
    mode = replay ? 'replay' : 'generate';
    if (!replay && !messages.some((m) => m.role === 'user')) throw new DataError('transcript-users', `${path.basename(transcriptFile)} has no user message to answer.`);
  } else {
    messages = [...(system ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: prompt! }];
    mode = 'prompt';
  }

  const { files: mf, onnxFile } = await loadCliModel(dir, args);
  const config = parseConfig(mf.config);
  const dims = { numLayers: config.numLayers, hiddenSize: config.hiddenSize };
  const layer = layerFlag(args, dims.numLayers, true)!;
  const bundle = axisBundleFromTensor(await readVectorFile(axisFile, 'axis'), dims, path.basename(axisFile));
  const steer = await steerFlags(args);
  const cap = await capFlags(args);
  const iv = buildInterventions(dims, { steer: steer ? [steer] : [], cap: cap ? [cap] : [] });

  const tokenizer = await ChatTokenizer.fromFiles(mf.tokenizer);
  const inst = instrumentDecoder(mf.model, { externalData: mf.externalData, hiddenSize: config.hiddenSize });
  // fatal-only logging: onnxruntime's own log lines stay off the terminal (its errors are thrown)
  const session = await createSession(ortNode as unknown as Ort, inst, { graphOptimizationLevel: 'all', logSeverityLevel: 4 }).catch((e: Error) => {
    throw new PersonaSpaceError('model-load', `onnxruntime could not load the model: ${e.message.split('\n')[0]}`);
  });
  const engine = new LmEngine(ortNode, session, config, { style: inst.info.style }) as LmEngine & { conversation?(rows: number): Conversation };
  if (typeof engine.conversation !== 'function') throw new PersonaSpaceError('no-conversation', 'This engine cannot hold conversations yet.');
  const model: ChatModel = {
    tokenizer,
    conversation: (n) => engine.conversation!(n),
    numLayers: dims.numLayers,
    hiddenSize: dims.hiddenSize,
    stopIds: stopTokenIds(mf.config, mf.generationConfig, tokenizer.eosId),
    maxPositions: config.maxPositionEmbeddings,
  };
  const rows = new ChatRows(model, 1, bundle.axis);
  Object.assign(rows.params[0], { steer: iv.steer, capAxis: iv.capAxis, capTau: iv.capTau, sampling: { temperature, topK, topP } });
  try {
    if (mode === 'replay') {
      rows.setMessages(0, messages);
    } else {
      // Every user turn is answered by the model; the transcript's own answers are not used.
      for (const m of messages) {
        if (m.role === 'assistant') continue;
        rows.push(0, m);
        if (m.role !== 'user') continue;
        const a = (await rows.answer([0], { maxTokens, seed })).get(0)!;
        if (!args.flags.has('json')) io.err(`[answer ${rows.messages(0).filter((x) => x.role === 'assistant').length}: ${a.ids.length} tokens, ${a.stopReason}]`);
      }
    }
    // One settled pass: every position of the final conversation fed under these settings.
    await rows.feed([0]);
    const v = rows.view(0, { asFed: true });
    const r6 = (x: number) => Math.round(x * 1e6) / 1e6;
    const out = {
      model: dir,
      onnx: onnxFile,
      layer,
      layers: dims.numLayers,
      axis: path.basename(axisFile),
      mode,
      ...(mode === 'generate' ? { note: REPLAY_LABEL.replace("the paper", 'the transcript') } : {}),
      ids: v.chat!.ids,
      messages: v.messages.map(({ m, span, generated }) => ({
        role: m.role,
        content: m.content,
        span,
        projection: generated?.mean ? r6(generated.mean[layer]) : null,
        projections: generated?.mean ? generated.mean.map(r6) : null,
        clamped: generated?.clamped ?? 0,
        ...(m.stopReason ? { stop_reason: m.stopReason } : {}),
      })),
      steer: steer ? { layers: steer.layers, alpha: steer.alpha } : null,
      cap: cap ? { layers: cap.layers, tau: cap.layers.map((l) => r6(iv.capTau[l])) } : null,
      sampling: { temperature, top_p: topP, seed, max_tokens: maxTokens },
    };
    if (args.flags.has('json')) io.out(JSON.stringify(out));
    else {
      io.out(`${dir} · ${onnxFile} · projection at layer ${layer} on ${path.basename(axisFile)} (raw, not centred)`);
      if (mode === 'generate') io.out(`(${out.note})`);
      for (const m of out.messages) {
        const p = m.projection === null ? '   —    ' : m.projection.toFixed(4).padStart(8);
        io.out(`${p}  ${m.role.padEnd(9)} ${m.content.replace(/\s+/g, ' ').slice(0, 100)}`);
      }
    }
    return 0;
  } finally {
    rows.dispose();
    await engine.dispose();
  }
}
