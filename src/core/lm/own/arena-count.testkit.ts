/** Tests only (./arena.test.ts, ./arena-count-worker.testkit.ts): count a thread's WebAssembly instances (one memory each). */

/** Counts every `new WebAssembly.Instance` on this thread from now on. */
export function countInstances(): { readonly n: number; restore(): void } {
  const Base = WebAssembly.Instance;
  const counter = { n: 0, restore: () => ((WebAssembly as { Instance: typeof WebAssembly.Instance }).Instance = Base) };
  class Counted extends Base {
    constructor(m: WebAssembly.Module, imports?: WebAssembly.Imports) {
      super(m, imports);
      counter.n++;
    }
  }
  (WebAssembly as { Instance: typeof WebAssembly.Instance }).Instance = Counted;
  return counter;
}
