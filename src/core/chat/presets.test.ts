import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CREDIT } from '../data/assistant-axis-data';
import { parseTranscript, presetList } from './presets';

const PAPER_DATA = path.resolve(__dirname, '../../../../shared/datasets/assistant-axis-data');
const HAVE = existsSync(path.join(PAPER_DATA, 'transcripts/persona_drift/coding.json'));

describe('presets', () => {
  it('lists the four drift conversations and the twelve case studies, each with the credit line', () => {
    const list = presetList();
    expect(list.filter((p) => p.kind === 'drift').map((p) => p.id)).toEqual(['drift:coding', 'drift:writing', 'drift:therapy', 'drift:philosophy']);
    expect(list.filter((p) => p.kind === 'case-study')).toHaveLength(12);
    expect(new Set(list.map((p) => p.id)).size).toBe(list.length);
    for (const p of list) expect(p.credit).toBe(CREDIT);
  });

  it.skipIf(!HAVE)('every preset path is a transcript of the paper’s repository that parses (needs ../shared/datasets/assistant-axis-data)', () => {
    for (const p of presetList()) {
      const { messages, model } = parseTranscript(JSON.parse(readFileSync(path.join(PAPER_DATA, p.path), 'utf8')), p.title);
      expect(messages.length).toBeGreaterThan(1);
      expect(messages.some((m) => m.role === 'user')).toBe(true);
      expect(typeof model).toBe('string');
    }
  });

  it('a transcript that is not one says so in one sentence', () => {
    expect(() => parseTranscript({ turns: 3 })).toThrow('The transcript has no "conversation" list of {role, content} messages.');
    expect(() => parseTranscript({ conversation: [] })).toThrow(/no messages/);
    expect(() => parseTranscript({ conversation: [{ role: 'robot', content: 'x' }] })).toThrow(/Message 1 .* needs a role/);
    expect(parseTranscript([{ role: 'user', content: 'a bare list works too' }]).messages).toHaveLength(1);
  });
});
