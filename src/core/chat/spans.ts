/**
 * A templated chat with the position of every message's content tokens: the same pooling as
 * extraction — a message's value is the mean over its *content* tokens only (no role header, no
 * end-of-turn token, no think block), as the reference code's assistant-token mask.
 *
 * How: the model's own chat template is rendered twice, once with the real contents and once with
 * a unique sentinel in place of each content. The sentinel render gives the template's own text
 * between messages; the real render shows what the template did to each content (Llama 3 and
 * Gemma trim it, Qwen3 strips leading newlines of the last answer). The text is then tokenized
 * segment by segment — template text, content, template text, ... — so every content is a whole
 * run of tokens, and its span is exact. A message may carry the token ids it was generated as
 * (`ids`); they are kept when they decode to the rendered content, so a conversation's cache
 * survives the next turn.
 */
import { DataError } from '../errors';
import type { ChatMessage, ChatPromptOptions, ChatTokenizer } from '../lm/tokenizer';

export interface SpanMessage extends ChatMessage {
  /** Token ids of the content as generated (kept when they decode to the rendered content). */
  ids?: readonly number[];
}

export interface TemplatedChat {
  /** Every token id of the templated conversation. */
  ids: number[];
  /** The rendered text. */
  text: string;
  /** Per message (same order as the input): its content tokens as positions in `ids`, [start, end). */
  spans: [number, number][];
  /** Per message: the content as the template wrote it (e.g. trimmed). */
  contents: string[];
}

/** The part of ChatTokenizer used here (tests may pass another tokenizer with the same shape). */
export type SpanTokenizer = Pick<ChatTokenizer, 'chatPrompt' | 'encode' | 'decode'>;

const SENTINEL = (i: number) => `\uE000${i.toString(36)}\uE001`;

/** Memo of segment encodings (template pieces repeat every turn; contents repeat every re-render). */
const memos = new WeakMap<object, Map<string, number[]>>();

function encodeSegment(tok: SpanTokenizer, text: string): number[] {
  if (text === '') return [];
  let memo = memos.get(tok);
  if (!memo) memos.set(tok, (memo = new Map()));
  let ids = memo.get(text);
  if (!ids) {
    ids = tok.encode(text, false);
    if (memo.size > 4096) memo.clear();
    memo.set(text, ids);
  }
  return ids;
}

/** Ways a template may rewrite a content (tried in order). */
function variants(c: string): string[] {
  const out = [c, c.trim(), c.replace(/^\n+/, ''), c.trimStart(), c.trimEnd(), c.replace(/^\n+/, '').trimEnd()];
  return [...new Set(out)];
}

export function templatedChat(tok: SpanTokenizer, messages: readonly SpanMessage[], options: ChatPromptOptions = {}): TemplatedChat {
  if (messages.length === 0) throw new DataError('chat', 'A chat needs at least one message.');
  for (const m of messages) {
    if (/[\uE000\uE001]/.test(m.content)) throw new DataError('chat-text', 'A message holds private-use characters U+E000/U+E001, which this tool reserves; remove them.');
  }
  const plain = messages.map(({ role, content }) => ({ role, content }));
  const marked = messages.map((m, i) => ({ role: m.role, content: SENTINEL(i) }));
  const real = tok.chatPrompt(plain, options).text;
  const skeleton = tok.chatPrompt(marked, options).text;
  // Split the skeleton at the sentinels: pieces[k] is template text, order[k] the message after it.
  const re = /\uE000([0-9a-z]+)\uE001/g;
  const pieces: string[] = [];
  const order: number[] = [];
  let last = 0;
  for (let m = re.exec(skeleton); m; m = re.exec(skeleton)) {
    pieces.push(skeleton.slice(last, m.index));
    order.push(parseInt(m[1], 36));
    last = m.index + m[0].length;
  }
  pieces.push(skeleton.slice(last));
  // Walk the real render along the skeleton, finding what each content became.
  const contents: string[] = messages.map(() => '');
  const found: boolean[] = messages.map(() => false);
  let at = 0;
  const fail = (what: string) =>
    new DataError('chat-template', `The model's chat template rewrites messages in a way this tool cannot follow (${what}); the conversation cannot be split into turns.`);
  for (let k = 0; k < order.length; k++) {
    if (!real.startsWith(pieces[k], at)) throw fail(`template text before message ${order[k] + 1}`);
    at += pieces[k].length;
    const i = order[k];
    if (found[i]) throw fail(`message ${i + 1} appears twice`);
    const next = pieces[k + 1];
    const isLast = k === order.length - 1;
    const hit = variants(messages[i].content).find((v) => real.startsWith(v, at) && (isLast ? real.length === at + v.length + next.length && real.endsWith(next) : real.startsWith(next, at + v.length)));
    if (hit === undefined) throw fail(`message ${i + 1}`);
    contents[i] = hit;
    found[i] = true;
    at += hit.length;
  }
  // Messages the template dropped have empty spans at the end of the previous segment.
  const ids: number[] = [];
  const spans: [number, number][] = messages.map(() => [0, 0]);
  const placed: boolean[] = messages.map(() => false);
  for (let k = 0; k < pieces.length; k++) {
    ids.push(...encodeSegment(tok, pieces[k]));
    if (k < order.length) {
      const i = order[k];
      const start = ids.length;
      const given = messages[i].ids;
      if (given && given.length && tok.decode(given, false) === contents[i]) ids.push(...given);
      else ids.push(...encodeSegment(tok, contents[i]));
      spans[i] = [start, ids.length];
      placed[i] = true;
    }
  }
  return { ids, text: real, spans: spans.map((s, i) => (placed[i] ? s : [ids.length, ids.length])), contents };
}
