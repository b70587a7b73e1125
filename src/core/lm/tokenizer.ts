/**
 * Tokenizer and chat template, from a model's `tokenizer.json` + `tokenizer_config.json`, through
 * `@huggingface/transformers` (its tokenizer classes and Jinja chat templates), so prompts are
 * byte-identical to what transformers.js and HF Python build.
 *
 * The JSON comes from wherever the model came from (hub URL, folder, built-in): this module never
 * fetches. transformers is imported lazily so that pages that never tokenize do not load it.
 */
import { DataError, FormatError } from '../errors';

export type ChatRole = 'system' | 'user' | 'assistant';
export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface TokenizerFiles {
  /** Parsed `tokenizer.json`. */
  tokenizerJSON: unknown;
  /** Parsed `tokenizer_config.json` (holds `chat_template` and the special tokens). */
  tokenizerConfig: Record<string, unknown>;
}

export interface ChatPromptOptions {
  /** Append the assistant header so the model answers next (default true). */
  addGenerationPrompt?: boolean;
  /** Qwen3's thinking mode; off by default, as in the paper (an empty `<think>` block is written). */
  enableThinking?: boolean;
}

/** The part of transformers' PreTrainedTokenizer this module uses. */
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], options?: { skip_special_tokens?: boolean }): string;
  apply_chat_template(messages: ChatMessage[], options: Record<string, unknown>): unknown;
  eos_token_id?: number | null;
  all_special_ids: number[];
  chat_template: unknown;
  get_vocab(): Map<string, number> | Record<string, number>;
}

export class ChatTokenizer {
  /** Ids of the tokenizer's special tokens (control tokens: never shown as text). */
  readonly specialIds: ReadonlySet<number>;
  /** The eos token of `tokenizer_config.json` (generation stop ids also come from the model config). */
  readonly eosId: number | null;
  /** Whether the chat template accepts a `system` message (false: it is folded into the first user turn). */
  readonly systemRole: boolean;

  private constructor(private readonly tok: HfTokenizer) {
    this.specialIds = new Set(tok.all_special_ids);
    this.eosId = tok.eos_token_id ?? null;
    this.systemRole = probeSystemRole(tok);
  }

  static async fromFiles(files: TokenizerFiles): Promise<ChatTokenizer> {
    const cfg = files.tokenizerConfig;
    if (!files.tokenizerJSON || typeof files.tokenizerJSON !== 'object' || !('model' in (files.tokenizerJSON as object))) {
      throw new FormatError('tokenizer', 'tokenizer.json has no "model" section; it is not a Hugging Face tokenizer file.');
    }
    const T = (await import('@huggingface/transformers')) as unknown as Record<string, new (j: unknown, c: unknown) => HfTokenizer>;
    const className = typeof cfg.tokenizer_class === 'string' ? cfg.tokenizer_class.replace(/Fast$/, '') : 'PreTrainedTokenizer';
    const Cls = T[className] ?? T.PreTrainedTokenizer;
    try {
      return new ChatTokenizer(new Cls(files.tokenizerJSON, cfg));
    } catch (e) {
      throw new FormatError('tokenizer', `The tokenizer files could not be read: ${(e as Error).message}`);
    }
  }

  /** Number of entries in the tokenizer's vocabulary (the model's may be padded beyond it). */
  get vocabSize(): number {
    const v = this.tok.get_vocab();
    return v instanceof Map ? v.size : Object.keys(v).length;
  }

  encode(text: string, addSpecialTokens = false): number[] {
    return this.tok.encode(text, { add_special_tokens: addSpecialTokens });
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    if (ids.length === 0) return '';
    return this.tok.decode(ids as number[], { skip_special_tokens: skipSpecialTokens });
  }

  /** The chat template applied to `messages`: the rendered text and its token ids. */
  chatPrompt(messages: readonly ChatMessage[], options: ChatPromptOptions = {}): { text: string; ids: number[] } {
    if (messages.length === 0) throw new DataError('chat', 'A chat needs at least one message.');
    const msgs = this.systemRole ? messages.map((m) => ({ ...m })) : foldSystem(messages);
    let text: string;
    try {
      text = this.tok.apply_chat_template(msgs, {
        tokenize: false,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        enable_thinking: options.enableThinking ?? false,
      }) as string;
    } catch (e) {
      throw new DataError('chat', `The model's chat template refused this conversation: ${(e as Error).message}`);
    }
    return { text, ids: this.encode(text, false) };
  }

  /** An incremental detokenizer for streaming: feed ids one by one, get the new text (may be ''). */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder(this);
  }
}

/**
 * Streaming detokenization as in HF text-generation-inference: decode a short window and emit the
 * text that appeared, holding back while a multi-byte character is still incomplete (U+FFFD at the end).
 */
export class StreamDecoder {
  private ids: number[] = [];
  private prefix = 0;
  private read = 0;
  constructor(private readonly tok: ChatTokenizer) {}

  push(id: number): string {
    this.ids.push(id);
    const before = this.tok.decode(this.ids.slice(this.prefix, this.read));
    const now = this.tok.decode(this.ids.slice(this.prefix));
    if (now.length > before.length && !now.endsWith('\uFFFD')) {
      this.prefix = this.read;
      this.read = this.ids.length;
      return now.slice(before.length);
    }
    return '';
  }

  /** Whatever is still held back (an incomplete character at the very end). */
  flush(): string {
    const before = this.tok.decode(this.ids.slice(this.prefix, this.read));
    const now = this.tok.decode(this.ids.slice(this.prefix));
    this.prefix = this.read = this.ids.length;
    return now.slice(before.length);
  }
}

function probeSystemRole(tok: HfTokenizer): boolean {
  if (!tok.chat_template) return false;
  try {
    const t = tok.apply_chat_template(
      [
        { role: 'system', content: '\u0001sys' },
        { role: 'user', content: 'u' },
      ],
      { tokenize: false, add_generation_prompt: false },
    ) as string;
    // A template may also silently drop the system message.
    return t.includes('\u0001sys');
  } catch {
    return false; // e.g. Gemma 2: raise_exception('System role not supported')
  }
}

/** The paper's convention for templates without a system role: prepend to the first user message, separated by a blank line. */
function foldSystem(messages: readonly ChatMessage[]): ChatMessage[] {
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  const rest = messages.filter((m) => m.role !== 'system').map((m) => ({ ...m }));
  if (system.length === 0) return rest;
  const first = rest.find((m) => m.role === 'user');
  const sys = system.join('\n\n');
  if (first) first.content = sys + '\n\n' + first.content;
  else rest.unshift({ role: 'user', content: sys });
  return rest;
}

/**
 * A self-contained byte-level tokenizer for the built-in synthetic model: 256 byte tokens (GPT-2's
 * byte-to-unicode alphabet, no merges) plus ChatML control tokens and a ChatML chat template.
 * Vocabulary size 259; any text round-trips.
 */
export function syntheticTokenizerFiles(): TokenizerFiles & { vocabSize: number; eosIds: number[] } {
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((ch, b) => (vocab[ch] = b));
  const specials = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
  const added = specials.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  for (const a of added) vocab[a.content] = a.id;
  const tokenizerJSON = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
  };
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizer',
    eos_token: '<|im_end|>',
    pad_token: '<|endoftext|>',
    add_bos_token: false,
    chat_template:
      "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
  };
  return { tokenizerJSON, tokenizerConfig, vocabSize: 259, eosIds: [258, 256] };
}

/** GPT-2's reversible byte -> printable unicode map (index = byte). */
function byteAlphabet(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = keep.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + n++);
  return out;
}
