/**
 * Test-only: run `memory-probe.ts` in a child Node process and return its report, so a test can
 * assert how much memory a hostile input may take (the vitest process's own heap and earlier tests
 * would blur a measurement taken in place).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');

export interface MemoryReport {
  case: string;
  ok: boolean;
  error: { name: string; code?: string; message: string } | null;
  baselineKB: number;
  peakKB: number;
  /** Growth of the peak resident set while the case ran, in MiB. */
  grewMiB: number;
}

export function runMemoryProbe(name: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<MemoryReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(HERE, 'memory-probe.ts'), name, ...args], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as Omit<MemoryReport, 'grewMiB'>;
        resolve({ ...r, grewMiB: (r.peakKB - r.baselineKB) / 1024 });
      } catch {
        reject(new Error(`memory probe ${name} gave no report (exit ${code}${signal ? ', ' + signal : ''}): ${err.slice(-2000)}`));
      }
    });
  });
}
