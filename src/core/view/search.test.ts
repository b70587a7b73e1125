import { describe, expect, it } from 'vitest';
import { NameSearch } from './search';
// The spec's 275 role names (the same list as ../shared/spec/roles.txt, kept in the repo).
import { ROLE_NAMES } from '../persona/names';

const roles = [...ROLE_NAMES];

describe('name search', () => {
  const s = new NameSearch(roles);
  it('finds exactly the ghost among the 275 roles', () => {
    const m = s.match('ghost');
    expect(m.map((i) => roles[i])).toEqual(['ghost']);
    expect(s.match('GHOST').length).toBe(1);
  });
  it('falls back to fuzzy matching for a typo', () => {
    expect(s.match('ghots').map((i) => roles[i])).toContain('ghost');
  });
  it('ORs comma-separated terms and ignores an empty query', () => {
    expect(s.match('ghost, pirate').map((i) => roles[i]).sort()).toEqual(['ghost', 'pirate']);
    expect(s.match('  ')).toEqual([]);
  });
});
