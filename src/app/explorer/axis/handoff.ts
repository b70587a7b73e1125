/**
 * The explorer's axis file, handed to the chat lab ("Use in chat lab"): the lab's store takes an
 * axis file by name and bytes (`useChat.getState().loadAxisFile`), and only once a model is
 * loaded (the axis must fit its layers and hidden size). A request made before that waits here
 * and is delivered when the lab's model appears.
 */
// The chat lab is its own chunk: its store is imported only when the axis is handed over.
type ChatModule = typeof import('../../chat/store');

export interface ExplorerAxisFile {
  name: string;
  bytes: Uint8Array;
  layers: number | null;
  dim: number;
}

let current: ExplorerAxisFile | null = null;
let requested: ExplorerAxisFile | null = null;
const listeners = new Set<(a: ExplorerAxisFile | null) => void>();
let unsubscribe: (() => void) | null = null;

/** The axis file loaded in the explorer now, or null. */
export function explorerAxisFile(): ExplorerAxisFile | null {
  return current;
}

/** Called whenever the explorer's axis file changes (null when removed); returns the unsubscribe. */
export function onExplorerAxisFile(cb: (a: ExplorerAxisFile | null) => void): () => void {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

/** The explorer's store sets this when an axis file is loaded or removed. */
export function setExplorerAxisFile(a: ExplorerAxisFile | null): void {
  current = a;
  for (const f of listeners) f(a);
}

/**
 * Give the chat lab this axis: at once when its model is loaded, else when one is. Returns
 * whether it went at once.
 */
export async function sendToChatLab(a: ExplorerAxisFile): Promise<boolean> {
  const { useChat }: ChatModule = await import('../../chat/store');
  const chat = useChat.getState();
  if (chat.model.info) {
    requested = null;
    await chat.loadAxisFile(a.name, a.bytes);
    return true;
  }
  requested = a;
  unsubscribe ??= useChat.subscribe((s, prev) => {
    if (!s.model.info || prev.model.info === s.model.info || !requested) return;
    const r = requested;
    requested = null;
    void useChat.getState().loadAxisFile(r.name, r.bytes);
  });
  return false;
}

/** The request waiting for a model, if any. */
export function pendingChatAxis(): ExplorerAxisFile | null {
  return requested;
}
