import { beforeAll, describe, expect, it } from 'vitest';
import { ChatTokenizer, syntheticTokenizerFiles } from '../lm/tokenizer';
import { templatedChat } from './spans';
import { lenmlTokenizer } from './tokenizers.testkit';

const CHAT = [
  { role: 'system' as const, content: 'You are a lighthouse keeper.' },
  { role: 'user' as const, content: 'Who are you?\n' },
  { role: 'assistant' as const, content: '  I keep the light. 海 🏴‍☠️\n' },
  { role: 'user' as const, content: 'Why?' },
  { role: 'assistant' as const, content: '\nBecause ships need it.' },
];

describe.each(['qwen3', 'llama3'] as const)('content spans with the real %s template', (name) => {
  let tok: ChatTokenizer;
  beforeAll(async () => {
    tok = await lenmlTokenizer(name);
  });

  it('each span decodes to exactly the content as the template wrote it, and the ids decode to the rendered text', () => {
    const c = templatedChat(tok, CHAT, { addGenerationPrompt: false });
    expect(tok.decode(c.ids, false)).toBe(c.text);
    c.spans.forEach(([s, e], i) => {
      expect(e).toBeGreaterThan(s);
      expect(tok.decode(c.ids.slice(s, e), false)).toBe(c.contents[i]);
      expect(CHAT[i].content.includes(c.contents[i])).toBe(true);
      // No special token inside a content span: the header and end-of-turn tokens are outside.
      for (const id of c.ids.slice(s, e)) expect(tok.specialIds.has(id)).toBe(false);
    });
    // The token just after each span is a special (end-of-turn) token.
    for (const [, e] of c.spans) expect(tok.specialIds.has(c.ids[e])).toBe(true);
    // Spans are ordered and disjoint.
    for (let i = 1; i < c.spans.length; i++) expect(c.spans[i][0]).toBeGreaterThan(c.spans[i - 1][1]);
  });

  it('with the generation prompt the ids are a prefix of the chat with the answer, and given ids are kept', () => {
    const head = templatedChat(tok, CHAT.slice(0, 4), { addGenerationPrompt: true });
    const answer = tok.encode('Because ships need it.');
    const full = templatedChat(tok, [...CHAT.slice(0, 4), { role: 'assistant', content: 'Because ships need it.', ids: answer }], { addGenerationPrompt: false });
    expect(full.ids.slice(0, head.ids.length)).toEqual(head.ids);
    expect(full.ids.slice(...full.spans[4])).toEqual(answer);
    expect(full.spans[4][0]).toBe(head.ids.length);
  });

  it('the same text tokenized whole gives the same ids (canonical in ordinary chats)', () => {
    const c = templatedChat(tok, CHAT.slice(0, 4), { addGenerationPrompt: true });
    expect(c.ids).toEqual(tok.chatPrompt(CHAT.slice(0, 4)).ids);
  });
});

describe('content spans with the synthetic byte tokenizer', () => {
  it('spans are the bytes of each content', async () => {
    const tok = await ChatTokenizer.fromFiles(syntheticTokenizerFiles());
    const c = templatedChat(tok, [{ role: 'user', content: 'hé' }, { role: 'assistant', content: 'ok' }], { addGenerationPrompt: false });
    expect(c.spans.map(([s, e]) => e - s)).toEqual([3, 2]);
    expect(c.ids.slice(...c.spans[1])).toEqual([111, 107]);
  });
});
