import { describe, expect, it } from 'vitest';
import { decodeView } from './share-link';
import { hashWithTab, hashWithoutTab, tabFromHash } from './tabs';

describe('the tab in the hash', () => {
  it('reads the tab, the explorer by default and for unknown values', () => {
    expect(tabFromHash('')).toBe('explorer');
    expect(tabFromHash('#tab=chat')).toBe('chat');
    expect(tabFromHash('#src=a&tab=extract&layer=3')).toBe('extract');
    expect(tabFromHash('#tab=__proto__')).toBe('explorer');
  });
  it('keeps the share-link keys when the tab changes', () => {
    const share = '#src=release%3Agemma&layer=16&pcx=1&pcy=2&color=axis&sel=ghost&mode=2d';
    const withChat = hashWithTab(share, 'chat');
    expect(withChat).toBe(`${share}&tab=chat`);
    expect(tabFromHash(withChat)).toBe('chat');
    expect(decodeView(withChat)).toEqual(decodeView(share));
    expect(hashWithTab(withChat, 'explorer')).toBe(share);
    expect(hashWithoutTab('#tab=chat')).toBe('');
    expect(hashWithTab('', 'extract')).toBe('#tab=extract');
  });
});
