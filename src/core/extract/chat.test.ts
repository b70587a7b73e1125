import { describe, expect, it } from 'vitest';
import { lenmlTokenizer } from '../chat/tokenizers.testkit';
import { ChatTokenizer, syntheticTokenizerFiles } from '../lm/tokenizer';
import { contentSpan, requireChatTemplate, rolloutMessages, rolloutPrompt, spanTokens } from './chat';

const ANSWER = 'Arr, matey! The sea be calling — 海 🏴‍☠️.';

describe('rollout chats and content spans with the real tokenizers', () => {
  for (const name of ['qwen3', 'llama3'] as const) {
    it(`${name}: the span holds exactly the answer's tokens (no header, no end of turn, no think block)`, async () => {
      const tok = await lenmlTokenizer(name);
      const st = spanTokens(tok);
      const prompt = rolloutPrompt(tok, 'You are a pirate.', 'Who are you?', 'Tiny');
      const eot = name === 'qwen3' ? 151645 : 128009;
      expect(tok.specialIds.has(eot)).toBe(true);
      const answer = tok.encode(ANSWER);
      const ids = [...prompt.ids, ...answer, eot];
      const [s, e] = contentSpan(ids, prompt.ids.length, st);
      expect([s, e]).toEqual([prompt.ids.length, prompt.ids.length + answer.length]);
      expect(tok.decode(ids.slice(s, e), false)).toBe(ANSWER);
      // The prompt ends with the assistant header (and, for Qwen3 with thinking off, an empty think block).
      if (name === 'qwen3') {
        expect(prompt.text.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
        expect(st.thinkOpen).toBe(151667);
        expect(st.thinkClose).toBe(151668);
        // A think block the model writes itself is not content either.
        const think = [st.thinkOpen!, ...tok.encode('hmm, let me think'), st.thinkClose!];
        const ids2 = [...prompt.ids, ...think, ...answer, eot, ...tok.encode(' trailing')];
        const sp = contentSpan(ids2, prompt.ids.length, st);
        expect(tok.decode(ids2.slice(sp[0], sp[1]), false)).toBe(ANSWER);
      } else {
        expect(prompt.text.endsWith('<|start_header_id|>assistant<|end_header_id|>\n\n')).toBe(true);
      }
      // A cut answer (max tokens, no end of turn) is content to its end.
      expect(contentSpan([...prompt.ids, ...answer], prompt.ids.length, st)).toEqual([prompt.ids.length, prompt.ids.length + answer.length]);
      // An answer that is only the end of turn is empty.
      const empty = contentSpan([...prompt.ids, eot], prompt.ids.length, st);
      expect(empty[1] - empty[0]).toBe(0);
    });
  }

  it('an empty instruction means no system message; {model_name} is substituted', async () => {
    expect(rolloutMessages('', 'Hi?', 'M')).toEqual([{ role: 'user', content: 'Hi?' }]);
    expect(rolloutMessages('You are {model_name}.', 'Hi?', 'Qwen3-0.6B')[0]).toEqual({ role: 'system', content: 'You are Qwen3-0.6B.' });
    const tok = await lenmlTokenizer('qwen3');
    expect(rolloutPrompt(tok, '', 'Hi?', 'M').text).toBe('<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
  });

  it('a template without a system role gets the instruction, a blank line, then the question', async () => {
    const files = syntheticTokenizerFiles();
    files.tokenizerConfig.chat_template =
      "{%- for m in messages %}{%- if m.role == 'system' %}{{ raise_exception('System role not supported') }}{%- endif %}" +
      "{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>model\\n' }}{%- endif %}";
    const tok = await ChatTokenizer.fromFiles(files);
    expect(rolloutPrompt(tok, 'Be a ghost.', 'Who are you?', 'M').text).toBe('<|im_start|>user\nBe a ghost.\n\nWho are you?<|im_end|>\n<|im_start|>model\n');
  });

  it('a model without a chat template is refused with one sentence', () => {
    expect(() => requireChatTemplate({}, 'gpt2')).toThrow('gpt2 has no chat template (tokenizer_config.json has no "chat_template"), so it cannot be asked to play a role; use an instruct/chat model.');
    expect(() => requireChatTemplate({ chat_template: '{{ x }}' })).not.toThrow();
  });
});
