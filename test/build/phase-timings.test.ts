import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { captureTimings, recordCount, recordPhase, timePhase } from '../../lib/build/phase-timings.js';

describe('phase timings', () => {
  it('captures phases and counts of one build', async () => {
    const { value, timings } = await captureTimings(async () => {
      await timePhase('sync', () => sleep(20));
      recordPhase('sync', 5);
      recordCount('syncFiles', 2);
      recordCount('syncFiles', 3);
      return 'built';
    });

    expect(value).toBe('built');
    expect(timings.phasesMs.sync).toBeGreaterThanOrEqual(24);
    expect(timings.counts).toEqual({ syncFiles: 5 });
  });

  it('keeps concurrent captures apart', async () => {
    const first = captureTimings(async () => {
      await sleep(10);
      recordCount('artifactFiles', 1);
    });
    const second = captureTimings(async () => {
      recordCount('artifactFiles', 7);
      await sleep(10);
    });

    expect((await first).timings.counts).toEqual({ artifactFiles: 1 });
    expect((await second).timings.counts).toEqual({ artifactFiles: 7 });
  });

  it('records a phase that rejects', async () => {
    const { timings } = await captureTimings(async () => {
      await timePhase('connect', () => Promise.reject(new Error('refused'))).catch(() => undefined);
    });

    expect(timings.phasesMs).toHaveProperty('connect');
  });
});
