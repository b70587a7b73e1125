/** The seeded synthetic persona set lives in core (src/core/persona/synthetic.ts); the worker and the CLI both use it. */
export { SYNTHETIC_LIMITS, syntheticPersonaSet, type SyntheticOptions } from '../src/core/persona/synthetic';
