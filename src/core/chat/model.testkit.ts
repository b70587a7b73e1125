/**
 * For the chat tests: a tiny random decoder whose vocabulary matches a tokenizer (the synthetic
 * byte tokenizer, or the real Qwen3 / Llama 3 ones), instrumented and opened on onnxruntime-node,
 * wrapped as a ChatModel over the reference Conversation (or another one).
 */
import * as ortNode from 'onnxruntime-node';
import { buildDecoder } from '../lm/builder';
import { randomCheckpoint, type Checkpoint } from '../lm/checkpoint';
import { parseConfig, tinyConfigJson, type DecoderConfig } from '../lm/config';
import { LmEngine } from '../lm/generate';
import { createSession, type Ort } from '../lm/ort';
import type { Conversation } from '../lm/rows';
import { ChatTokenizer, syntheticTokenizerFiles } from '../lm/tokenizer';
import { instrumentDecoder } from '../onnx/instrument';
import type { ChatModel } from './chat-rows';
import { forwardConversation } from './conversation.testkit';
import { lenmlTokenizer } from './tokenizers.testkit';

export interface TestChatModel {
  model: ChatModel;
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  config: DecoderConfig;
  checkpoint: Checkpoint;
  onnx: Uint8Array;
  configJson: Record<string, unknown>;
}

export async function testChatModel(
  kind: 'synthetic' | 'qwen3' | 'llama3',
  opts: { seed?: number; layers?: number; conversation?: (engine: LmEngine, rows: number) => Conversation } = {},
): Promise<TestChatModel> {
  const tokenizer = kind === 'synthetic' ? await ChatTokenizer.fromFiles(syntheticTokenizerFiles()) : await lenmlTokenizer(kind);
  // The model's vocabulary covers every id the tokenizer can produce (specials included).
  const vocab = kind === 'synthetic' ? 259 : kind === 'qwen3' ? 151669 : 128256;
  const stopIds = kind === 'synthetic' ? [258, 256] : kind === 'qwen3' ? [151645, 151643] : [128009, 128001];
  const hidden = kind === 'synthetic' ? 32 : 16;
  const configJson = tinyConfigJson(kind === 'llama3' ? 'llama' : 'qwen3', {
    hidden_size: hidden, intermediate_size: 2 * hidden, num_hidden_layers: opts.layers ?? 4, num_attention_heads: 2, num_key_value_heads: 1, head_dim: hidden / 2,
    vocab_size: vocab, eos_token_id: stopIds, max_position_embeddings: 4096, tie_word_embeddings: true,
  });
  const config = parseConfig(configJson);
  const checkpoint = randomCheckpoint(config, { seed: opts.seed ?? 5 });
  const built = buildDecoder(checkpoint, { style: 'optimum', dtype: 'fp32' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: config.hiddenSize });
  const session = await createSession(ortNode as unknown as Ort, inst, { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  const engine = new LmEngine(ortNode, session, config, { style: inst.info.style });
  const conv = opts.conversation ?? forwardConversation;
  const model: ChatModel = {
    tokenizer,
    conversation: (rows) => conv(engine, rows),
    numLayers: config.numLayers,
    hiddenSize: config.hiddenSize,
    stopIds,
    maxPositions: config.maxPositionEmbeddings,
  };
  return { model, engine, tokenizer, config, checkpoint, onnx: built.onnx, configJson };
}
