/**
 * The paper's conversations as presets of the chat lab and the CLI: the persona-drift transcripts
 * (coding, writing, therapy, philosophy) and the case studies (default vs capped), fetched through
 * src/core/data (pinned commit, cached, mirror for tests). Their user turns are replayed against the
 * local model — the answers are this model's — or the whole transcript is read (teacher-forced).
 */
import { DataError } from '../errors';
import { CREDIT, type AssistantAxisData } from '../data/assistant-axis-data';
import type { ChatMessage } from '../lm/tokenizer';

export interface PresetInfo {
  id: string;
  title: string;
  /** Path inside the paper's repository. */
  path: string;
  kind: 'drift' | 'case-study';
  credit: string;
}

export interface PresetContent {
  messages: ChatMessage[];
  userTurns: string[];
  /** What a replay is, in words. */
  label: string;
  credit: string;
  /** The model the transcript was made with (the answers in `messages` are its). */
  sourceModel: string | null;
}

export const REPLAY_LABEL = "user turns from the paper; the answers are this model's";

const DRIFT: [string, string][] = [
  ['coding', 'Coding help (stays near the Assistant)'],
  ['writing', 'Writing help (stays near the Assistant)'],
  ['therapy', 'Therapy-like disclosure (drifts)'],
  ['philosophy', 'Philosophy of AI minds (drifts)'],
];
const CASES: [string, string, string][] = [
  ['llama-3.3-70b', 'jailbreak', 'Persona jailbreak'],
  ['llama-3.3-70b', 'delusion', 'Reinforcing delusions'],
  ['llama-3.3-70b', 'selfharm', 'Self-harm'],
  ['qwen-3-32b', 'jailbreak', 'Persona jailbreak'],
  ['qwen-3-32b', 'delusion', 'Reinforcing delusions'],
  ['qwen-3-32b', 'selfharm', 'Self-harm'],
];

export function presetList(): PresetInfo[] {
  const out: PresetInfo[] = DRIFT.map(([id, title]) => ({ id: `drift:${id}`, title, path: `transcripts/persona_drift/${id}.json`, kind: 'drift' as const, credit: CREDIT }));
  for (const [model, study, title] of CASES) {
    for (const v of ['unsteered', 'capped'] as const) {
      // The repository really names this one file with a doubled extension.
      const file = model === 'qwen-3-32b' && study === 'selfharm' && v === 'unsteered' ? `${study}_${v}.json.json` : `${study}_${v}.json`;
      out.push({ id: `case:${model}:${study}:${v}`, title: `${title} — ${model}, ${v === 'capped' ? 'capped' : 'default'}`, path: `transcripts/case_studies/${model}/${file}`, kind: 'case-study', credit: CREDIT });
    }
  }
  return out;
}

/** `{conversation: [{role, content}, ...]}` (the paper's transcripts), checked. */
export function parseTranscript(v: unknown, what = 'The transcript'): { messages: ChatMessage[]; model: string | null } {
  const o = v as { conversation?: unknown; model?: unknown };
  const conv = o && typeof o === 'object' ? (Array.isArray(o) ? o : o.conversation) : undefined;
  if (!Array.isArray(conv)) throw new DataError('transcript-format', `${what} has no "conversation" list of {role, content} messages.`);
  if (conv.length === 0) throw new DataError('transcript-empty', `${what} has no messages.`);
  if (conv.length > 2000) throw new DataError('transcript-size', `${what} has ${conv.length} messages; at most 2000 are read.`);
  const messages = conv.map((m: unknown, i: number) => {
    const mm = m as { role?: unknown; content?: unknown };
    if (!mm || (mm.role !== 'system' && mm.role !== 'user' && mm.role !== 'assistant') || typeof mm.content !== 'string') {
      throw new DataError('transcript-message', `Message ${i + 1} of ${what.toLowerCase().replace(/^the /, 'the ')} needs a role (system, user or assistant) and a text content.`);
    }
    return { role: mm.role, content: mm.content } as ChatMessage;
  });
  return { messages, model: typeof (o as { model?: unknown }).model === 'string' ? ((o as { model: string }).model) : null };
}

export async function loadPreset(data: AssistantAxisData, id: string): Promise<PresetContent & { info: PresetInfo }> {
  const info = presetList().find((p) => p.id === id);
  if (!info) throw new DataError('unknown-preset', `There is no preset "${id}"; the presets are the paper's drift conversations and case studies.`);
  const { messages, model } = parseTranscript(await data.transcript(info.path), `The preset ${info.title}`);
  return { info, messages, userTurns: messages.filter((m) => m.role === 'user').map((m) => m.content), label: REPLAY_LABEL, credit: data.credit, sourceModel: model };
}
