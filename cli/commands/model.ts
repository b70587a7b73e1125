/**
 * `persona-space model build|random|run`
 *
 *   model build <checkpoint-dir> --out <model-dir> [--style genai|optimum] [--dtype fp32|fp16|q4|q4f16|q8|int8|uint8] [--external-data] [--quantize-embeddings] [--json]
 *       writes <model-dir>/onnx/model<suffix>.onnx (+ model<suffix>.onnx_data when external) and copies
 *       config.json and the tokenizer files found beside the checkpoint;
 *   model random --config <config.json> --out <checkpoint-dir> [--seed N] [--dtype float32|bfloat16] [--shard-mb MB] [--max-gb GB] [--json]
 *       writes a seeded random checkpoint (config.json + model.safetensors, or shards + index);
 *       refuses, before writing anything, one larger than --max-gb (default 40);
 *   model run ...  (see ./model-run)
 *
 * File access lives here; the conversion itself is core (src/core/lm/builder).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { flagInt, flagNumber, flagString, parseArgs, UsageError } from '../args';
import type { CliIO } from '../main';
import { parseConfig } from '../../src/core/lm/config';
import { checkpointBytes, checkpointFromSafetensors, planShards, randomCheckpoint, safetensorsHeader } from '../../src/core/lm/checkpoint';
import { buildDecoderChunks, MODEL_DTYPES, type ExportStyle, type ModelDType } from '../../src/core/lm/builder/index';
import { DataError } from '../../src/core/errors';

const USAGE = [
  'usage: persona-space model build <checkpoint-dir> --out <model-dir> [--style genai|optimum] [--dtype fp32|fp16|q4|q4f16|q8|int8|uint8] [--external-data] [--quantize-embeddings]',
  '       persona-space model random --config <config.json> --out <checkpoint-dir> [--seed N] [--dtype float32|bfloat16] [--shard-mb MB] [--max-gb GB]',
  '       persona-space model run <model-dir> --ids 1,2,3 [steer/cap options] --json',
].join('\n');

/** Files copied next to a built model when the checkpoint has them. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'chat_template.jinja'];

export async function run(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'build':
      return build(rest, io);
    case 'random':
      return random(rest, io);
    case 'run': {
      const { runModel } = await import('./model-run');
      return runModel(rest, io);
    }
    case undefined:
    case '--help':
    case 'help':
      io.out(USAGE);
      return sub ? 0 : 2;
    default:
      throw new UsageError(`unknown subcommand "${sub}" (use build, random or run).`);
  }
}

/** Read a whole file, also past Node's 2 GB readFile limit. */
async function readLarge(file: string): Promise<Uint8Array> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 2 ** 30) return new Uint8Array(await fh.readFile());
    const out = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(out, off, Math.min(1 << 28, size - off), off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return out;
  } finally {
    await fh.close();
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(() => true, () => false);
}

/** The safetensors files of a checkpoint folder (via the index when there is one). */
async function checkpointFiles(dir: string): Promise<string[]> {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (await exists(index)) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(await fs.readFile(index, 'utf8')).weight_map;
    } catch {
      throw new DataError('checkpoint-index', `${index} is not a valid safetensors index.`);
    }
    return [...new Set(Object.values(map ?? {}))].map((f) => path.join(dir, f));
  }
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  return names.map((f) => path.join(dir, f));
}

async function build(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv, ['json', 'help', 'external-data', 'quantize-embeddings']);
  const dir = args.positionals[0];
  const out = flagString(args, 'out');
  if (!dir || !out) throw new UsageError('model build needs <checkpoint-dir> and --out <model-dir>.');
  const style = (flagString(args, 'style') ?? 'genai') as ExportStyle;
  if (style !== 'genai' && style !== 'optimum') throw new UsageError(`--style must be genai or optimum, got "${style}".`);
  const dtype = (flagString(args, 'dtype') ?? 'fp32') as ModelDType;
  if (!MODEL_DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${MODEL_DTYPES.join(', ')}, got "${dtype}".`);

  const configText = await fs.readFile(path.join(dir, 'config.json'), 'utf8');
  const files = await checkpointFiles(dir);
  const shards = [];
  for (const f of files) shards.push({ name: path.basename(f), bytes: await readLarge(f) });
  const ck = checkpointFromSafetensors(configText, shards);
  const quantizeEmbeddings = args.flags.has('quantize-embeddings');
  if (quantizeEmbeddings && dtype !== 'q4' && dtype !== 'q4f16') throw new UsageError('--quantize-embeddings needs --dtype q4 or q4f16.');
  const built = buildDecoderChunks(ck, { style, dtype, externalData: args.flags.has('external-data') ? true : 'auto', quantizeEmbeddings });

  // written piece by piece: the weights are never copied into one whole-file buffer
  const onnxDir = path.join(out, 'onnx');
  await fs.mkdir(onnxDir, { recursive: true });
  let bytes = 0;
  const fh = await fs.open(path.join(onnxDir, built.fileName), 'w');
  try {
    for (const c of built.onnxChunks) { await fh.write(c); bytes += c.byteLength; }
  } finally {
    await fh.close();
  }
  if (built.externalDataName) {
    const eh = await fs.open(path.join(onnxDir, built.externalDataName), 'w');
    try {
      for (const c of built.externalChunks) await eh.write(c.bytes, 0, c.bytes.byteLength, c.offset);
      await eh.truncate(built.externalSize);
    } finally {
      await eh.close();
    }
  }
  await fs.writeFile(path.join(out, 'config.json'), configText);
  const copied: string[] = ['config.json'];
  for (const f of TOKENIZER_FILES) {
    if (await exists(path.join(dir, f))) {
      await fs.copyFile(path.join(dir, f), path.join(out, f));
      copied.push(f);
    }
  }
  const summary = {
    model: path.join(onnxDir, built.fileName),
    bytes,
    external_data: built.externalDataName ? path.join(onnxDir, built.externalDataName) : null,
    external_bytes: built.externalDataName ? built.externalSize : 0,
    style,
    dtype,
    model_type: ck.config.modelType,
    layers: ck.config.numLayers,
    hidden_size: ck.config.hiddenSize,
    copied,
  };
  if (args.flags.has('json')) io.out(JSON.stringify(summary));
  else io.out(`wrote ${summary.model} (${style}, ${dtype}, ${(summary.bytes / 1e6).toFixed(1)} MB${summary.external_data ? ` + ${(summary.external_bytes / 1e6).toFixed(1)} MB external data` : ''}); copied ${copied.join(', ')}`);
  return 0;
}

async function random(argv: string[], io: CliIO): Promise<number> {
  const args = parseArgs(argv);
  const configPath = flagString(args, 'config');
  const out = flagString(args, 'out');
  if (!configPath || !out) throw new UsageError('model random needs --config <config.json> and --out <checkpoint-dir>.');
  const seed = flagInt(args, 'seed') ?? 0;
  const dtype = flagString(args, 'dtype') ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw new UsageError(`--dtype must be float32 or bfloat16, got "${dtype}".`);
  const shardMb = flagNumber(args, 'shard-mb') ?? 1024;
  if (shardMb <= 0) throw new UsageError('--shard-mb must be positive.');

  const maxGb = flagNumber(args, 'max-gb') ?? 40;
  if (!(maxGb > 0)) throw new UsageError('--max-gb must be positive.');

  const configText = await fs.readFile(configPath, 'utf8');
  const cfg = parseConfig(configText);
  const need = checkpointBytes(cfg, dtype);
  if (need > maxGb * 1e9) {
    throw new DataError('checkpoint-too-large', `This config makes a ${(need / 1e9).toFixed(1)} GB checkpoint in ${dtype}, more than --max-gb ${maxGb}; nothing was written.`, { bytes: need });
  }
  const ck = randomCheckpoint(cfg, { seed, dtype });
  const plan = planShards(ck, dtype, Math.round(shardMb * 2 ** 20));
  await fs.mkdir(out, { recursive: true });
  await fs.writeFile(path.join(out, 'config.json'), configText);
  let total = 0;
  for (const f of plan.files) {
    // header, then each tensor made and written in turn: memory stays at one tensor
    const fh = await fs.open(path.join(out, f.file), 'w');
    try {
      await fh.write(safetensorsHeader(f.tensors, { format: 'pt', generator: `persona-space random seed=${seed}` }));
      for (const t of f.tensors) {
        const data = ck.tensor(t.name).data;
        await fh.write(data);
        total += data.byteLength;
      }
    } finally {
      await fh.close();
    }
  }
  if (plan.index) await fs.writeFile(path.join(out, 'model.safetensors.index.json'), JSON.stringify(plan.index, null, 2));
  const summary = { out, files: plan.files.map((f) => f.file), bytes: total, seed, dtype, model_type: cfg.modelType, tensors: ck.names().length };
  if (args.flags.has('json')) io.out(JSON.stringify(summary));
  else io.out(`wrote a random ${cfg.modelType} checkpoint (seed ${seed}, ${dtype}, ${(total / 1e6).toFixed(1)} MB in ${plan.files.length} file(s)) to ${out}`);
  return 0;
}
