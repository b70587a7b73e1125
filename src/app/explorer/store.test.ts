/** The explorer's store slices without a worker: selection with undo, tags and groups, renaming, selectors. */
import { beforeEach, describe, expect, it } from 'vitest';
import type { SetInfo } from '../../core/view/types';
import { groupOf, selectOpenSet } from './selectors';
import { useStore } from './store';

const info: SetInfo = {
  id: 'A1', label: 'vectors/ · 275 roles · d 4096', sourceUrl: null, format: 'pt-folder', count: 275, nRoles: 275, nTraits: 0,
  layers: null, dim: 4096, dtype: 'bfloat16', defaultLabel: 'default', byteSize: 1,
};
const initial = useStore.getState();

beforeEach(() => useStore.setState(initial, true));

describe('selection slice', () => {
  it('toggles, adds without duplicates, undoes and redoes; clearing also leaves Isolate', () => {
    const s = () => useStore.getState();
    s().toggleSelected('ghost');
    s().addToSelection(['ghost', 'pirate', '__proto__']);
    expect(s().selection).toEqual(['ghost', 'pirate', '__proto__']);
    s().setIsolate(true);
    s().undoSelection();
    expect(s().selection).toEqual(['ghost']);
    s().redoSelection();
    expect(s().selection).toEqual(['ghost', 'pirate', '__proto__']);
    s().clearSelection();
    expect(s().selection).toEqual([]);
    expect(s().isolate).toBe(false);
    s().undoSelection();
    expect(s().selection).toHaveLength(3);
  });
});

describe('view slice', () => {
  it('tags the selection (names are Map keys, "__proto__" included), groups by tag and filters groups', () => {
    const s = () => useStore.getState();
    s().select(['ghost', '__proto__']);
    s().tagSelection('  spooky ');
    expect(s().groupBy).toBe('tag');
    expect(groupOf(s(), '__proto__', 'role')).toBe('spooky');
    expect(groupOf(s(), 'pirate', 'role')).toBe('untagged');
    s().toggleGroup('untagged');
    expect(s().hiddenGroups).toEqual(['untagged']);
    s().toggleGroup('untagged');
    expect(s().hiddenGroups).toEqual([]);
    s().setGroupBy('kind');
    expect(groupOf(s(), 'ghost', 'trait')).toBe('trait');
    s().tagSelection('   ');
    expect(s().tags.size).toBe(2);
  });

  it('renames a set (trimmed, never empty) and the selectors give its shape', () => {
    useStore.setState({ setA: info, layer: 0 });
    expect(selectOpenSet(useStore.getState())).toEqual({ label: info.label, numLayers: 1, hiddenSize: 4096, layer: 0, hasDefault: true });
    useStore.getState().renameSet('A', '  Llama 3.1 8B  ');
    expect(useStore.getState().setA!.label).toBe('Llama 3.1 8B');
    useStore.getState().renameSet('A', '   ');
    expect(useStore.getState().setA!.label).toBe('Llama 3.1 8B');
    expect(selectOpenSet({ ...useStore.getState(), setA: null })).toBeNull();
  });
});
