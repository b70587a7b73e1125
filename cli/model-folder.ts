/**
 * Which model a command runs, one rule for every command (`model run`, `generate`, `chat`,
 * `extract`): the model argument is a local folder in transformers.js layout (config.json,
 * tokenizer files, onnx/model*.onnx), a lone .onnx file (`model run` only), a hub repo
 * (`hf:owner/name[@revision]`) or `synthetic[:SEED]` (a tiny seeded Qwen3 built in memory). The
 * weights file comes from `--onnx onnx/NAME.onnx`, else `--dtype`, else the first of CPU_ORDER on
 * offer; the files on offer are read with src/core/lm/pick.ts's rules (names, external data).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { flagString, UsageError, type ParsedArgs } from './args';
import { DataError } from '../src/core/errors';
import { loadModelFiles, type ModelDtype, type ModelFiles, type ModelSource } from '../src/core/lm/model-source';
import { offeredWeights, type OfferedFile, type WeightsDtype } from '../src/core/lm/pick';

/** Every weights dtype a file name can carry (transformers.js suffixes; see pick.ts). */
export const WEIGHT_DTYPES: readonly WeightsDtype[] = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'];

/** On onnxruntime-node (native CPU) without --dtype: exact fp32 first, then the smaller files. */
export const CPU_ORDER: readonly WeightsDtype[] = ['fp32', 'q4', 'fp16', 'q4f16', 'q8', 'int8', 'uint8'];

/** `--dtype D`, checked against WEIGHT_DTYPES (the same list and message in every command). */
export function dtypeFlag(args: ParsedArgs): WeightsDtype | undefined {
  const d = flagString(args, 'dtype');
  if (d === undefined) return undefined;
  if (!(WEIGHT_DTYPES as readonly string[]).includes(d)) throw new UsageError(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got "${d}".`);
  return d as WeightsDtype;
}

export type ModelSpec =
  | { kind: 'folder'; dir: string }
  | { kind: 'onnx-file'; file: string }
  | { kind: 'hub'; repo: string; revision?: string }
  | { kind: 'synthetic'; seed: number };

/** The model argument -> what it names (no file is read). */
export function parseModelSpec(text: string | undefined): ModelSpec {
  if (!text) throw new UsageError('give the model: a folder, hf:owner/name, or synthetic.');
  const syn = /^synthetic(?::(\d+))?$/.exec(text);
  if (syn) return { kind: 'synthetic', seed: syn[1] ? Number(syn[1]) : 0 };
  const hub = /^(?:hf|hub):([\w.-]+\/[\w.-]+)(?:@([\w./-]+))?$/.exec(text);
  if (hub) return { kind: 'hub', repo: hub[1], ...(hub[2] ? { revision: hub[2] } : {}) };
  if (/^(?:hf|hub):/.test(text)) throw new UsageError(`"${text}" is not a hub model; write hf:owner/name or hf:owner/name@revision.`);
  if (text.toLowerCase().endsWith('.onnx')) return { kind: 'onnx-file', file: text };
  return { kind: 'folder', dir: text };
}

export interface ModelFileChoice {
  /** Path from the folder root, '/'-separated, e.g. `onnx/model_q4.onnx`. */
  onnxFile: string;
  dtype: WeightsDtype | null;
  /** External weight files beside it (paths from the folder root). */
  externalData: string[];
}

/** The weights file of a local folder (see the module comment). */
export async function chooseModelFile(dir: string, opts: { dtype?: WeightsDtype; onnx?: string } = {}): Promise<ModelFileChoice> {
  let names: string[];
  try {
    names = (await readdir(path.join(dir, 'onnx'))).sort();
  } catch {
    throw new DataError('model-folder', `"${dir}" has no onnx/ folder; expected a model in transformers.js layout (config.json, tokenizer files, onnx/model*.onnx).`);
  }
  const offered: OfferedFile[] = [];
  for (const n of names) {
    const st = await stat(path.join(dir, 'onnx', n)).catch(() => null);
    if (st?.isFile()) offered.push({ path: `onnx/${n}`, size: st.size });
  }
  const weights = offeredWeights(offered);
  if (opts.onnx !== undefined) {
    const rel = opts.onnx.replace(/\\/g, '/').replace(/^\.\//, '');
    if (rel.split('/').includes('..') || path.isAbsolute(rel)) throw new UsageError(`--onnx names a file inside the model folder (e.g. onnx/model.onnx), not "${opts.onnx}".`);
    const hit = weights.find((w) => w.file === rel);
    if (!hit && !offered.some((f) => f.path === rel)) throw new DataError('model-folder', `"${dir}" has no ${rel} (found: ${names.join(', ') || 'nothing'}).`);
    return { onnxFile: rel, dtype: hit?.dtype ?? null, externalData: hit?.externalData ?? [] };
  }
  const order = opts.dtype ? [opts.dtype] : CPU_ORDER;
  for (const d of order) {
    const w = weights.find((c) => c.dtype === d);
    if (w) return { onnxFile: w.file, dtype: d, externalData: w.externalData };
  }
  const want = opts.dtype ? `a ${opts.dtype} model (onnx/model${DTYPE_FILE_SUFFIX[opts.dtype]}.onnx)` : 'model*.onnx';
  const has = opts.dtype ? `has no model${DTYPE_FILE_SUFFIX[opts.dtype]}.onnx` : `has no ${want}`;
  throw new DataError(opts.dtype ? 'model-dtype' : 'model-folder', `"${dir}/onnx" ${has} (found: ${names.join(', ') || 'nothing'}).`);
}

const DTYPE_FILE_SUFFIX: Record<WeightsDtype, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16' };

/** The files of a local model folder a core model source needs: the top-level JSON files and the chosen ONNX model with its external data. */
export async function readModelFolder(dir: string, dtype?: WeightsDtype, onnxFile?: string): Promise<{ files: Record<string, Uint8Array>; onnxFile: string }> {
  const choice = await chooseModelFile(dir, { dtype, onnx: onnxFile });
  const base = path.posix.basename(choice.onnxFile);
  const onnxDir = path.posix.dirname(choice.onnxFile);
  const siblings = await readdir(path.join(dir, onnxDir)).catch(() => [] as string[]);
  const files: Record<string, Uint8Array> = {};
  const read = async (rel: string, optional = false) => {
    try {
      files[rel] = new Uint8Array(await readFile(path.join(dir, rel)));
    } catch (e) {
      if (!optional) throw e;
    }
  };
  await Promise.all([
    read('config.json'),
    read('generation_config.json', true),
    read('tokenizer.json'),
    read('tokenizer_config.json'),
    read(choice.onnxFile),
    // External data lives next to the model: model.onnx_data, model.onnx_data_1, ...; the graph's
    // own locations are checked when it is loaded (src/core/lm/model-source.ts).
    ...siblings.filter((n) => n.startsWith(base + '_data') || n.startsWith(base + '.data')).map((n) => read(`${onnxDir}/${n}`, true)),
  ]);
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
    if (!files[f]) throw new DataError('model-folder', `"${dir}" has no ${f}.`);
  }
  return { files, onnxFile: choice.onnxFile };
}

/** The model flags every model command takes. */
export const MODEL_FLAGS = ['dtype', 'onnx', 'hub'] as const;

export interface CliModel {
  files: ModelFiles;
  /** The weights file, from the model's root (`onnx/model.onnx`), or `synthetic`. */
  onnxFile: string;
  /** How the model was named on the command line. */
  label: string;
}

/**
 * The model argument and `--dtype` / `--onnx` / `--hub` -> the files core's engine loads. A
 * synthetic model is fp32 (or fp16 / q4 with --dtype); a hub model takes `onnx/model<suffix>.onnx`.
 */
export async function loadCliModel(spec: string | undefined, args: ParsedArgs): Promise<CliModel> {
  const s = parseModelSpec(spec);
  const dtype = dtypeFlag(args);
  const onnx = flagString(args, 'onnx');
  switch (s.kind) {
    case 'folder': {
      const { files, onnxFile } = await readModelFolder(s.dir, dtype, onnx);
      return { files: await loadModelFiles({ kind: 'files', files, onnxFile, label: s.dir }), onnxFile, label: s.dir };
    }
    case 'onnx-file':
      throw new UsageError(`a lone .onnx file has no tokenizer; give its model folder (the one holding config.json and onnx/), not "${s.file}".`);
    case 'hub': {
      if (dtype && !(dtype in HUB_DTYPES)) throw new UsageError(`--dtype for a hub model must be one of ${Object.keys(HUB_DTYPES).join(', ')}.`);
      const source: ModelSource = { kind: 'hub', hub: flagString(args, 'hub'), repo: s.repo, revision: s.revision, dtype: dtype as ModelDtype | undefined, onnxFile: onnx };
      const files = await loadModelFiles(source);
      return { files, onnxFile: onnx ?? `onnx/model${DTYPE_FILE_SUFFIX[dtype ?? 'fp32']}.onnx`, label: `hf:${s.repo}` };
    }
    case 'synthetic': {
      if (onnx !== undefined) throw new UsageError('--onnx names a file of a model folder; a synthetic model has none.');
      if (dtype && dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'q4') throw new UsageError('--dtype for a synthetic model must be fp32, fp16 or q4.');
      const files = await loadModelFiles({ kind: 'synthetic', seed: s.seed, dtype: dtype as 'fp32' | 'fp16' | 'q4' | undefined });
      return { files, onnxFile: 'synthetic', label: `synthetic:${s.seed}` };
    }
  }
}

const HUB_DTYPES: Record<ModelDtype, true> = { fp32: true, fp16: true, q8: true, q4: true, q4f16: true };
