/** Files from pickers and drag-and-drop (whole folders included), with paths relative to what was picked. */
import type { LocalFile } from '../../../../workers/analysis-client';

export function filesFromList(list: FileList | null): LocalFile[] {
  if (!list) return [];
  return Array.from(list, (file) => ({ path: file.webkitRelativePath || file.name, file }));
}

function readAllEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  // readEntries returns at most ~100 entries per call: keep reading until it returns none.
  return new Promise((resolve, reject) => {
    const all: FileSystemEntry[] = [];
    const next = () => reader.readEntries((batch) => {
      if (batch.length === 0) resolve(all);
      else { all.push(...batch); next(); }
    }, reject);
    next();
  });
}

async function walk(entry: FileSystemEntry, prefix: string, out: LocalFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    const entries = await readAllEntries((entry as FileSystemDirectoryEntry).createReader());
    for (const e of entries) await walk(e, `${prefix}${entry.name}/`, out);
  }
}

/** Every file of a drop, descending into dropped folders. */
export async function filesFromDrop(dt: DataTransfer): Promise<LocalFile[]> {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const e = item.webkitGetAsEntry?.();
    if (e) entries.push(e);
  }
  if (entries.length === 0) return filesFromList(dt.files);
  const out: LocalFile[] = [];
  for (const e of entries) await walk(e, '', out);
  return out;
}
