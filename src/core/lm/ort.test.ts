import { describe, expect, it } from 'vitest';
import { createSession, type Ort, type SessionOptions } from './ort';

/** An onnxruntime module stand-in that records the options a session is created with. */
function recordingOrt(seen: SessionOptions[]): Ort {
  return {
    InferenceSession: {
      create: async (_model: Uint8Array, options?: SessionOptions) => {
        seen.push(options ?? {});
        return {} as Awaited<ReturnType<Ort['InferenceSession']['create']>>;
      },
    },
    Tensor: class {} as unknown as Ort['Tensor'],
  };
}

describe('createSession', () => {
  it("keeps onnxruntime's own log lines off unless asked, and passes the other options and the external data", async () => {
    const seen: SessionOptions[] = [];
    const ort = recordingOrt(seen);
    const model = { graph: new Uint8Array([1]), externalData: [{ path: 'w.bin', data: new Uint8Array(4) }] };
    await createSession(ort, model);
    await createSession(ort, model, { logSeverityLevel: 2, graphOptimizationLevel: 'all' });
    await createSession(ort, { graph: new Uint8Array([1]), externalData: [] });
    expect(seen[0].logSeverityLevel).toBe(4);
    expect(seen[0].externalData).toEqual(model.externalData);
    expect(seen[1]).toMatchObject({ logSeverityLevel: 2, graphOptimizationLevel: 'all' });
    expect(seen[2].logSeverityLevel).toBe(4);
    expect(seen[2].externalData).toBeUndefined();
  });
});
