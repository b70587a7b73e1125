import type { EmitContext } from './common';
export function buildGenaiGraph(_ctx: EmitContext, _contextLength: number): void {
  throw new Error('todo');
}
