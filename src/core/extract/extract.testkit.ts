/**
 * For the extraction tests: a tiny random decoder with the synthetic byte tokenizer on
 * onnxruntime-node, and the paper's data read from ../shared (through the fetch override).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ortNode from 'onnxruntime-node';
import { assistantAxisData, type AssistantAxisData, type AssistantAxisDataOptions } from '../data/assistant-axis-data';
import { buildDecoder } from '../lm/builder';
import { randomCheckpoint, type Checkpoint } from '../lm/checkpoint';
import { parseConfig, type DecoderConfig } from '../lm/config';
import { LmEngine } from '../lm/generate';
import { syntheticConfig } from '../lm/model-source';
import { createSession, type Ort } from '../lm/ort';
import { ChatTokenizer, syntheticTokenizerFiles } from '../lm/tokenizer';
import { instrumentDecoder } from '../onnx/instrument';

export const PAPER_DATA_DIR = path.resolve(__dirname, '../../../../shared/datasets/assistant-axis-data');
export const HAVE_PAPER_DATA = existsSync(path.join(PAPER_DATA_DIR, 'data/extraction_questions.jsonl'));
export const LLAMA_L16_DIR = path.resolve(__dirname, '../../../../shared/datasets/llama-3.1-8b-L16/vectors');
export const HAVE_LLAMA_L16 = existsSync(path.join(LLAMA_L16_DIR, 'ghost.pt'));

/** The paper's data from the shared folder, with no server: a fetch that reads files. */
export function localPaperData(): AssistantAxisData {
  return assistantAxisData(localPaperDataOptions());
}

export function localPaperDataOptions(): AssistantAxisDataOptions {
  const base = 'http://paper-data.test';
  const fetchFile: typeof fetch = async (url) => {
    const rel = String(url).slice(base.length + 1);
    const full = path.join(PAPER_DATA_DIR, rel);
    if (!full.startsWith(PAPER_DATA_DIR + path.sep) || !existsSync(full)) return new Response('not found', { status: 404 });
    return new Response(readFileSync(full));
  };
  return { base, fetch: fetchFile };
}

export interface TinyModel {
  engine: LmEngine;
  tokenizer: ChatTokenizer;
  config: DecoderConfig;
  configJson: Record<string, unknown>;
  checkpoint: Checkpoint;
  onnx: Uint8Array;
  stopIds: number[];
}

/** The synthetic Qwen3-shaped decoder (64 wide, 4 layers, 259 tokens), instrumented. */
export async function tinyModel(seed = 2, overrides: Record<string, unknown> = {}): Promise<TinyModel> {
  const configJson = syntheticConfig({ hidden_size: 32, intermediate_size: 64, head_dim: 8, ...overrides });
  const config = parseConfig(configJson);
  const checkpoint = randomCheckpoint(config, { seed });
  const built = buildDecoder(checkpoint, { style: 'genai', dtype: 'fp32' });
  const inst = instrumentDecoder(built.onnx, { hiddenSize: config.hiddenSize });
  const session = await createSession(ortNode as unknown as Ort, inst, { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });
  const tok = syntheticTokenizerFiles();
  const engineOptions = { style: inst.info.style };
  return { engine: new LmEngine(ortNode, session, config, engineOptions), tokenizer: await ChatTokenizer.fromFiles(tok), config, configJson, checkpoint, onnx: built.onnx, stopIds: tok.eosIds };
}
