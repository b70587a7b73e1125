/**
 * Long synchronous work (opening a model on our int8 decoder, converting 4-bit weights) written
 * once as steps: a generator that does one piece of work per step and yields how far it got. Run
 * it at once (`runSteps`: benches, the CLI, tests), or with a turn of the event loop after every
 * step (`runStepsAsync`), so that a worker still answers its messages: a cancel is seen between
 * steps (an AbortError, as a cancelled download gives) and progress goes out as it is made.
 */

/** A macrotask's turn of the event loop (`setTimeout(0)`, the standard host timer). */
export const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

export interface StepsOptions<P> {
  /** Cancels the work between steps (it rejects with an AbortError). */
  signal?: AbortSignal;
  /** Called with each step's progress. */
  onProgress?: (p: P) => void;
  /** Gives the event loop a turn after each step (default `nextTask`; a worker may pass a MessageChannel round trip, which timers' 4 ms clamp does not slow). */
  yieldNow?: () => Promise<void>;
}

/** An Error named AbortError (what model-core turns into code 'aborted', "Cancelled."), with `message` in words. */
export function abortError(message: string): Error {
  return Object.assign(new Error(message), { name: 'AbortError' });
}

/** Throw abortError(message) once `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, message: string): void {
  if (signal?.aborted) throw abortError(message);
}

/** Every step at once; the work's result. */
export function runSteps<P, R>(steps: Generator<P, R, void>): R {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Every step, the event loop's turn after each (progress reported first, the signal checked
 * after): the work's result, or an AbortError saying `cancelled` once the signal is aborted (the
 * generator is then closed: its `finally` blocks run).
 */
export async function runStepsAsync<P, R>(steps: Generator<P, R, void>, options: StepsOptions<P>, cancelled: string): Promise<R> {
  const yieldNow = options.yieldNow ?? nextTask;
  try {
    throwIfAborted(options.signal, cancelled);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      options.onProgress?.(r.value);
      await yieldNow();
      throwIfAborted(options.signal, cancelled);
    }
  } finally {
    steps.return(undefined as R);
  }
}

/** `steps` with each progress mapped by `f` (the same steps and result). */
export function* mapSteps<P, Q, R>(steps: Generator<P, R, void>, f: (p: P) => Q): Generator<Q, R, void> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    yield f(r.value);
  }
}
