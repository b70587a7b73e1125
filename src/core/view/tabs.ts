/**
 * Which tab of the page is open, kept in the URL's hash beside the explorer's share-link keys:
 * `#tab=chat`, `#tab=extract`, or no `tab` key for the explorer. Every other key is left as it is,
 * so a share link (`#src=…&layer=…`) and the tab live in one hash.
 */

export const TABS = ['explorer', 'chat', 'extract'] as const;
export type Tab = (typeof TABS)[number];

function parts(hash: string): string[] {
  const body = hash.startsWith('#') ? hash.slice(1) : hash;
  return body ? body.split('&').filter((p) => p !== '') : [];
}

/** The tab a hash names; the explorer when it names none or an unknown one. */
export function tabFromHash(hash: string): Tab {
  for (const p of parts(hash)) {
    if (!p.startsWith('tab=')) continue;
    const t = p.slice(4);
    if ((TABS as readonly string[]).includes(t)) return t as Tab;
  }
  return 'explorer';
}

/** The hash (with '#', or '' when empty) with `tab` set; every other key kept in order. */
export function hashWithTab(hash: string, tab: Tab): string {
  const rest = parts(hash).filter((p) => !p.startsWith('tab='));
  if (tab !== 'explorer') rest.push(`tab=${tab}`);
  return rest.length ? `#${rest.join('&')}` : '';
}

/** The hash without its `tab` key (what the explorer's share link reads). */
export function hashWithoutTab(hash: string): string {
  return hashWithTab(hash, 'explorer');
}
