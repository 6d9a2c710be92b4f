import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_TIMEOUT_SECS, DEFAULT_SLOTS } from '../../lib/config/fleet-settings.js';
import { parseWorkersToml } from '../../lib/config/workers.js';
import { RchError } from '../../lib/errors.js';

const FILE = '/home/me/.config/rch/workers.toml';

function parseError(text: string): RchError {
  try {
    parseWorkersToml(text, FILE, '/home/me');
  } catch (error) {
    expect(error).toBeInstanceOf(RchError);
    return error as RchError;
  }
  throw new Error('expected an error');
}

describe('workers.toml settings', () => {
  it('applies defaults', () => {
    const { settings } = parseWorkersToml('', FILE, '/home/me');
    expect(settings).toEqual({ queueTimeoutSecs: DEFAULT_QUEUE_TIMEOUT_SECS, slots: DEFAULT_SLOTS });
    expect(settings.slots.bench).toBe('all');
  });

  it('reads the queue timeout and per-subcommand slots', () => {
    const text = 'queue_timeout_secs = 30\n\n[slots]\ncheck = 2\nnextest = "all"\n';
    const { settings } = parseWorkersToml(text, FILE, '/home/me');
    expect(settings.queueTimeoutSecs).toBe(30);
    expect(settings.slots).toEqual({ ...DEFAULT_SLOTS, check: 2, nextest: 'all' });
  });

  it('names a misspelt subcommand', () => {
    const error = parseError('[slots]\nchekc = 2\n');
    expect(error.code).toBe('RCH_CONFIG_INVALID');
    expect(error.message).toContain('[slots]: unknown subcommand "chekc", did you mean "check"?');
  });

  it('rejects a slot count of zero', () => {
    expect(parseError('[slots]\nbuild = 0\n').message).toContain('field "build" is 0, expected a positive integer or "all"');
  });

  it('rejects a negative queue timeout', () => {
    expect(parseError('queue_timeout_secs = -1\n').message).toContain('"queue_timeout_secs" is -1');
  });

  it('rejects a non-positive gc limit', () => {
    const error = parseError('[[workers]]\nid = "a"\nhost = "h"\ngc_max_gib = 0\n');
    expect(error.message).toContain('field "gc_max_gib" is 0, expected a positive number of GiB');
  });
});
