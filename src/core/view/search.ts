/**
 * Name search for the map: plain substring matches when there are any (so "ghost" finds exactly
 * the ghost), otherwise fuzzy matches (fuse.js) so a typo still finds its role. Several terms
 * separated by commas are OR-ed.
 */
import Fuse from 'fuse.js';

export class NameSearch {
  private readonly lower: string[];
  private readonly fuse: Fuse<string>;

  constructor(readonly names: readonly string[]) {
    this.lower = names.map((n) => n.toLowerCase());
    this.fuse = new Fuse([...names], { threshold: 0.34, ignoreLocation: true, minMatchCharLength: 2 });
  }

  /** Indices of matching names, in name order. Empty query -> no matches. */
  match(query: string): number[] {
    const terms = query.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
    const hit = new Set<number>();
    for (const term of terms) {
      let any = false;
      this.lower.forEach((n, i) => { if (n.includes(term)) { hit.add(i); any = true; } });
      if (!any && term.length >= 3) for (const r of this.fuse.search(term)) hit.add(r.refIndex);
    }
    return [...hit].sort((a, b) => a - b);
  }
}
