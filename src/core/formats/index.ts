/**
 * File formats in one import: detection by content, readers and writers. Values read from
 * pickles (and .npz / safetensors / JSON dicts) follow the representation documented in py.ts.
 */
export { detectFormat, readTensorFile, type FileFormat, type ReadFileOptions, type ReadResult } from './detect';
export { readPt, writePt, isLegacyTorch, type ReadPtOptions, type PtWritable } from './pt';
export { unpickle, unpickleAt, isAllowedGlobal, type UnpickleOptions } from './pickle';
export { pickleDump } from './pickle-write';
export { readSafetensors, writeSafetensors, safetensorsHeader, isSafetensors, type Safetensors, type SafetensorsEntry } from './safetensors';
export { readNpy, writeNpy, readNpz, writeNpz, isNpy, isNpz } from './npy';
export { readVectorsTsv, readMetadataTsv, writeVectorsTsv, writeMetadataTsv, metadataNames, type ProjectorMetadata } from './tsv';
export { readJson, writeJsonVectors } from './json';
export { openZip, writeZip, crc32, isZip, type ZipArchive, type ZipEntry, type ZipLimits } from './zip';
export { PyDict, PyGlobal, PyObject, pyGet, pyKeys, pyToPlain, isPyDict, findTensors, type PyKey, type PyValue } from './py';
