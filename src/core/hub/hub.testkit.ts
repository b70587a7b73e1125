/** Test helpers shared by the hub's test files. */
import { expect } from 'vitest';
import { HubError } from './errors';

/** The HubError `p` rejects with (fails the test when it resolves or rejects with anything else). */
export async function caught(p: Promise<unknown>): Promise<HubError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(HubError);
    return e as HubError;
  }
  throw new Error('expected a HubError');
}
