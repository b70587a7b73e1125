/**
 * One rollout's chat and the positions of the answer's content tokens.
 *
 * The chat is built as the reference pipeline does: an empty instruction means no system message
 * at all; a template without a system role gets the instruction joined to the question with a
 * blank line (ChatTokenizer folds it); Qwen3's thinking is off; `{model_name}` is substituted.
 *
 * Content tokens are the answer's tokens only: not the template header (it is part of the prompt),
 * not the end-of-turn token nor any control token, not a `<think>` ... `</think>` block.
 */
import { DataError } from '../errors';
import type { ChatMessage, ChatTokenizer } from '../lm/tokenizer';

export interface RolloutPrompt {
  ids: number[];
  text: string;
}

/** The instruction with `{model_name}` replaced. */
export function substituteModelName(instruction: string, modelName: string): string {
  return instruction.split('{model_name}').join(modelName);
}

export function rolloutMessages(instruction: string, question: string, modelName: string): ChatMessage[] {
  const sys = substituteModelName(instruction, modelName);
  return sys.length > 0 ? [{ role: 'system', content: sys }, { role: 'user', content: question }] : [{ role: 'user', content: question }];
}

/** The templated prompt (generation header included) the model answers. */
export function rolloutPrompt(tok: ChatTokenizer, instruction: string, question: string, modelName: string): RolloutPrompt {
  const { ids, text } = tok.chatPrompt(rolloutMessages(instruction, question, modelName), { addGenerationPrompt: true, enableThinking: false });
  return { ids, text };
}

/** A model must have a chat template for its rollouts to mean anything. */
export function requireChatTemplate(tokenizerConfig: Record<string, unknown>, label = 'This model'): void {
  const t = tokenizerConfig.chat_template;
  const ok = typeof t === 'string' ? t.trim().length > 0 : Array.isArray(t) && t.length > 0;
  if (!ok) {
    throw new DataError('no-chat-template', `${label} has no chat template (tokenizer_config.json has no "chat_template"), so it cannot be asked to play a role; use an instruct/chat model.`);
  }
}

/** Token ids the span rules need. */
export interface SpanTokens {
  /** Control tokens (end of turn, headers, padding): never content. */
  special: ReadonlySet<number>;
  /** `<think>` / `</think>` when the vocabulary has them as single tokens. */
  thinkOpen?: number | null;
  thinkClose?: number | null;
}

/** `<think>` / `</think>` ids of a tokenizer (null when they are not single tokens). */
export function spanTokens(tok: ChatTokenizer): SpanTokens {
  const one = (s: string) => {
    const ids = tok.encode(s);
    return ids.length === 1 ? ids[0] : null;
  };
  return { special: tok.specialIds, thinkOpen: one('<think>'), thinkClose: one('</think>') };
}

/**
 * Follows a generated answer token by token and tells which positions are content: after the
 * prompt; a think block is skipped (content restarts after its `</think>`); the first control
 * token after content starts (the end of turn) closes the span. The span is always contiguous.
 */
export class SpanTracker {
  private inThink = false;
  private closed = false;
  /** [start, end) of the content so far, as positions in the whole sequence. */
  start: number;
  end: number;
  constructor(
    private readonly t: SpanTokens,
    promptLength: number,
  ) {
    this.start = this.end = promptLength;
  }

  /**
   * Feed the token at `position` (positions from promptLength, in order). Returns 'content' when
   * it belongs to the span, 'reset' when earlier content is dropped (a think block closed after
   * it: content restarts), or 'skip'.
   */
  push(id: number, position: number): 'content' | 'reset' | 'skip' {
    if (this.closed) return 'skip';
    if (id === this.t.thinkOpen) {
      if (this.end > this.start) {
        this.closed = true;
        return 'skip';
      }
      this.inThink = true;
      return 'skip';
    }
    if (id === this.t.thinkClose) {
      this.inThink = false;
      const had = this.end > this.start;
      this.start = this.end = position + 1;
      return had ? 'reset' : 'skip';
    }
    if (this.inThink) return 'skip';
    if (this.t.special.has(id)) {
      if (this.end > this.start) this.closed = true;
      else this.start = this.end = position + 1;
      return 'skip';
    }
    this.end = position + 1;
    return 'content';
  }
}

/** [start, end) of the content tokens of `ids` (prompt then answer), the answer starting at promptLength. */
export function contentSpan(ids: readonly number[], promptLength: number, t: SpanTokens): [number, number] {
  const tr = new SpanTracker(t, promptLength);
  for (let p = promptLength; p < ids.length; p++) tr.push(ids[p], p);
  return [tr.start, tr.end];
}
