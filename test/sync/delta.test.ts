import { describe, expect, it } from 'vitest';
import { computeDelta } from '../../lib/sync/delta.js';

describe('computeDelta', () => {
  it('sends new and changed paths only', () => {
    const local = new Map([
      ['/p', 'd'],
      ['/p/a.rs', 'f:1:644'],
      ['/p/b.rs', 'f:2:644'],
    ]);
    const delta = computeDelta(local, { '/p': 'd', '/p/a.rs': 'f:1:644', '/p/b.rs': 'f:old:644' });
    expect(delta.send).toEqual(['/p/b.rs']);
    expect(delta.remove).toEqual([]);
  });

  it('removes deleted paths once per deleted folder', () => {
    const local = new Map([['/p', 'd']]);
    const held = { '/p': 'd', '/p/gone': 'd', '/p/gone/x.rs': 'f:1:644', '/p/gone-too.rs': 'f:2:644' };
    const delta = computeDelta(local, held);
    expect(delta.remove).toEqual(['/p/gone', '/p/gone-too.rs']);
    expect(delta.send).toEqual([]);
  });

  it('removes then resends a path whose kind changed', () => {
    const local = new Map([
      ['/p', 'd'],
      ['/p/m', 'd'],
      ['/p/m/x.rs', 'f:1:644'],
    ]);
    const delta = computeDelta(local, { '/p': 'd', '/p/m': 'f:9:644' });
    expect(delta.remove).toEqual(['/p/m']);
    expect(delta.send).toEqual(['/p/m', '/p/m/x.rs']);
  });

  it('resends a file whose mode changed', () => {
    const delta = computeDelta(new Map([['/p/run.sh', 'f:1:755']]), { '/p/run.sh': 'f:1:644' });
    expect(delta.send).toEqual(['/p/run.sh']);
    expect(delta.remove).toEqual([]);
  });
});
