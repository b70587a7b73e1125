import { it, expect } from 'vitest';
import { parseConfig, tinyConfigJson } from '../../lm/config';
import { randomCheckpoint } from '../../lm/checkpoint';
import { referenceForward } from '../../lm/reference';
import { buildDecoder } from '../../onnx/builder/index';
import { createSession, step, maxAbsDiff } from '../../onnx/builder/ort-node.testkit';
it('optimum qwen3', async () => {
  const cfg = parseConfig(tinyConfigJson('qwen3'));
  const ck = randomCheckpoint(cfg, { seed: 1 });
  const b = buildDecoder(ck, { style: 'optimum', dtype: 'fp32' });
  const s = await createSession(b.onnx);
  const ids = [3, 17, 100, 5, 9];
  const r = await step(s, cfg, ids);
  const ref = referenceForward(cfg, ck, ids);
  
  expect(maxAbsDiff(r.logits, ref.logits)).toBeLessThan(1e-4);
});
