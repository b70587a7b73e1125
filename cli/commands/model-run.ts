/**
 * `persona-space model run <model-dir> --ids 1,2,3 [steer/cap options] [--json]`
 *
 * One forward pass of an ONNX decoder, instrumented in memory, on onnxruntime-node (native CPU):
 * the logits at every position and resid_post (after steering and capping) at every layer.
 * File access lives here; instrumentation and the intervention maths are core.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { flagIntList, flagString, parseArgs, UsageError, type ParsedArgs } from '../args';
import type { CliIO } from '../main';
import { capFlags, STEER_CAP_FLAGS, steerFlags } from '../model-flags';
import { parseCommand } from '../persona-args';
import { chooseModelFile, dtypeFlag } from '../model-folder';
import { DataError, PersonaSpaceError } from '../../src/core/errors';
import { readTensorFile } from '../../src/core/formats/detect';
import { buildInterventions, cappingConfigFrom, capTermsFromCappingConfig, type CapTerm } from '../../src/core/lm/interventions';
import { createSession, interventionFeeds, outputF32, prefillFeeds, residPost, type Ort } from '../../src/core/lm/ort';
import { externalDataLocations, instrumentDecoder, RESID_POST_OUTPUT } from '../../src/core/onnx/instrument';
import { checkExternalLocation } from '../../src/core/lm/model-source';

export const MODEL_RUN_USAGE = [
  'usage: persona-space model run <model-dir> --ids 1,2,3 [--dtype fp32|fp16|q8|int8|uint8|q4|q4f16 | --onnx onnx/NAME.onnx]',
  '         [--steer FILE --steer-layers 3,4 --alpha A]',
  '         [--cap FILE --cap-layers 3,4 (--tau T | --tau-file FILE)]',
  '         [--capping-config capping_config.pt --experiment ID] [--json]',
  '',
  '  Runs <model-dir>/onnx/model<suffix>.onnx once on the token ids with onnxruntime-node (CPU) and',
  '  prints the logits at every position and resid_post (after steering and capping) at every layer.',
  '  FILE: .npy, .safetensors or .pt holding (d,) or (n_layers, d); row L is used at layer L.',
  '  Steering adds alpha * v/|v| at the steer layers; capping keeps h . v/|v| >= tau at the cap layers.',
  '  --tau-file holds one threshold per model layer or per cap layer. Layers are 0-based decoder blocks.',
  '  --capping-config applies one experiment of the official release (ceilings along role-play vectors).',
  '  --json prints {"logits": [[...] per position], "resid_post": [[[...] per position] per layer]}.',
].join('\n');

export async function runModel(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommand(argv, ['ids', 'capping-config', 'experiment', 'json', 'help', 'dtype', 'onnx', ...STEER_CAP_FLAGS], 'model run', ['json', 'help']);
  if (args.flags.has('help')) {
    io.out(MODEL_RUN_USAGE);
    return 0;
  }
  const [dir, ...extra] = args.positionals;
  if (!dir) throw new UsageError(`give the model folder.\n${MODEL_RUN_USAGE}`);
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}".`);
  const ids = flagIntList(args, 'ids');
  if (!ids?.length) throw new UsageError('give the token ids with --ids 1,2,3.');
  if (ids.some((i) => i < 0)) throw new UsageError('token ids cannot be negative.');

  const modelFile = await findModelFile(dir, args);
  const bytes = new Uint8Array(await fs.readFile(modelFile));
  const externalData = await Promise.all(
    // only files next to the model: a location such as ../../x or /etc/x is refused before any read
    externalDataLocations(bytes).map(checkExternalLocation).map(async (loc) => ({ path: loc, data: await readExternal(path.join(path.dirname(modelFile), loc), loc) })),
  );
  const model = instrumentDecoder(bytes, { externalData });
  const { info } = model;
  await checkVocab(dir, ids);

  const steer = await steerFlags(args);
  const cap = await capFlags(args);
  const released = await releaseCaps(args);
  const caps = [...(cap ? [cap] : []), ...released];
  const iv = buildInterventions(info, { steer: steer ? [steer] : [], cap: caps });

  const ort = (await import('onnxruntime-node')) as unknown as Ort;
  // severity 4 (fatal only): onnxruntime's own coloured log lines never reach the terminal; its
  // errors come back as exceptions and are reported in one line below
  const session = await createSession(ort, model, { logSeverityLevel: 4 }).catch((e: Error) => {
    throw new PersonaSpaceError('model-load', `onnxruntime could not load ${path.basename(modelFile)}: ${e.message.split('\n')[0]}`);
  });
  let out;
  try {
    out = await session.run({ ...prefillFeeds(ort, info, [ids]), ...interventionFeeds(ort, iv) });
  } catch (e) {
    throw new PersonaSpaceError('model-run', `onnxruntime could not run the model: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    await session.release?.();
  }
  const logits = outputF32(out.logits, 'logits');
  const vocab = logits.length / ids.length;
  const tap = residPost(out, info);
  const d = info.hiddenSize;
  const S = ids.length;
  const logitRows = Array.from({ length: S }, (_, s) => Array.from(logits.subarray(s * vocab, (s + 1) * vocab)));
  const resid = Array.from({ length: info.numLayers }, (_, l) =>
    Array.from({ length: S }, (_, s) => Array.from(tap.data.subarray((l * S + s) * d, (l * S + s + 1) * d))),
  );

  if (args.flags.has('json')) {
    io.out(JSON.stringify({
      model: modelFile,
      style: info.style,
      layers: info.numLayers,
      hidden_size: d,
      vocab_size: vocab,
      ids,
      steer_layers: steer?.layers ?? [],
      cap_layers: caps.flatMap((c) => c.layers),
      logits: logitRows,
      [RESID_POST_OUTPUT]: resid,
    }));
    return 0;
  }
  const last = logitRows[S - 1];
  const top = last.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]).slice(0, 5);
  io.out(`${path.relative(process.cwd(), modelFile) || modelFile}: ${info.style} export, ${info.numLayers} layers, d = ${d}, vocab ${vocab}, ${info.residDtype} residual`);
  if (steer) io.out(`steering: alpha ${steer.alpha} at layers ${steer.layers.join(', ')}`);
  if (caps.length) io.out(`capping at layers ${caps.flatMap((c) => c.layers).join(', ')}`);
  io.out(`next token after ${S} tokens (top 5 ids by logit): ${top.map(([v, i]) => `${i} (${v.toFixed(3)})`).join(', ')}`);
  io.out('|resid_post| at the last position, per layer: ' + resid.map((rows) => Math.hypot(...rows[S - 1]).toFixed(3)).join(' '));
  return 0;
}


/** A .onnx path as is; otherwise the folder's weights by the one rule every model command uses (cli/model-folder.ts). */
async function findModelFile(dir: string, args: ParsedArgs): Promise<string> {
  const dtype = dtypeFlag(args);
  if (dir.endsWith('.onnx')) return dir;
  const { onnxFile } = await chooseModelFile(dir, { dtype, onnx: flagString(args, 'onnx') });
  return path.join(dir, onnxFile);
}

async function readExternal(file: string, location: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch {
    throw new DataError('model-external-missing', `The model's external data file "${location}" is not next to it (${file}).`, { location });
  }
}

async function checkVocab(dir: string, ids: number[]): Promise<void> {
  if (dir.endsWith('.onnx')) return;
  let vocab: unknown;
  try {
    vocab = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8')).vocab_size;
  } catch {
    return; // no config: onnxruntime will complain about out-of-range ids itself
  }
  if (typeof vocab === 'number') {
    const bad = ids.find((i) => i >= vocab);
    if (bad !== undefined) throw new DataError('token-range', `Token id ${bad} is outside the model's vocabulary of ${vocab}.`);
  }
}

/** `--capping-config FILE --experiment ID`: the release's capping_config.pt (read with the safe unpickler). */
async function releaseCaps(args: ReturnType<typeof parseArgs>): Promise<CapTerm[]> {
  const file = flagString(args, 'capping-config');
  const experiment = flagString(args, 'experiment');
  if (!file) {
    if (experiment !== undefined) throw new UsageError('--experiment needs --capping-config FILE.');
    return [];
  }
  const config = cappingConfigFrom(readTensorFile(new Uint8Array(await fs.readFile(file)), file).value);
  if (experiment === undefined) {
    throw new UsageError(`--capping-config needs --experiment (one of: ${config.experiments.map((e) => e.id).join(', ')}).`);
  }
  return capTermsFromCappingConfig(config, /^\d+$/.test(experiment) && !config.experiments.some((e) => e.id === experiment) ? Number(experiment) : experiment);
}
