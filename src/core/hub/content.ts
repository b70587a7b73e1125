/**
 * What a downloaded file must be before it is cached: a file named like a vector file must read as
 * that format (parsed by the same readers the set loader uses, pickles as data only, nothing
 * executed). A web page, a truncated archive or JSON cut short is refused with HubError
 * `bad-response`, so it never lands in the cache to fail on every later visit.
 */
import { isPersonaSpaceError } from '../errors';
import { readTensorFile, type FileFormat } from '../formats/detect';
import { HubError, hostLabel } from './errors';

const EXPECTED: readonly { ext: RegExp; formats: readonly FileFormat[]; what: string }[] = [
  { ext: /\.safetensors$/i, formats: ['safetensors'], what: 'a safetensors file' },
  { ext: /\.(pt|pth)$/i, formats: ['pt', 'pickle'], what: 'a PyTorch file' },
  { ext: /\.npy$/i, formats: ['npy'], what: 'a NumPy .npy file' },
  { ext: /\.npz$/i, formats: ['npz'], what: 'a NumPy .npz archive' },
  { ext: /\.json$/i, formats: ['json'], what: 'JSON' },
  { ext: /\.tsv$/i, formats: ['tsv', 'text'], what: 'a TSV file' },
  { ext: /\.txt$/i, formats: ['text', 'tsv'], what: 'a text file' },
];

const FORMAT_NAMES: Record<FileFormat, string> = {
  pt: 'a PyTorch file', npz: 'a NumPy .npz archive', npy: 'a NumPy .npy file', safetensors: 'a safetensors file',
  pickle: 'a pickle', json: 'JSON', tsv: 'a vectors TSV', text: 'text',
};

/** Throws HubError `bad-response` when `bytes`, downloaded from `url` as `path`, is not what its name says. */
export function checkDownloadedFile(path: string, bytes: Uint8Array, url: string): void {
  const rule = EXPECTED.find((r) => r.ext.test(path));
  if (!rule) return;
  const name = path.split('/').pop() ?? path;
  let format: FileFormat;
  try {
    format = readTensorFile(bytes, name, { dataOnly: true }).format;
  } catch (e) {
    // JSON that parses but holds something the loader reads differently (ragged lists) is still a whole file.
    if (rule.formats.includes('json') && isPersonaSpaceError(e) && e.code !== 'json-invalid' && e.code !== 'text-encoding' && e.code !== 'empty-file' && e.code !== 'unknown-format') return;
    const why = e instanceof Error ? e.message.replace(/\.$/, '') : String(e);
    throw new HubError('bad-response', `${hostLabel(url)} sent ${name}, but it is not ${rule.what} (${why}); nothing was kept.`, { url, path });
  }
  if (!rule.formats.includes(format)) {
    throw new HubError('bad-response', `${hostLabel(url)} sent ${name}, but it reads as ${FORMAT_NAMES[format]}, not ${rule.what}; nothing was kept.`, { url, path, format });
  }
}
