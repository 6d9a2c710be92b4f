import { readFileSync } from 'node:fs';

/** The kernel's default of fs.inotify.max_queued_events, used where /proc cannot be read. */
const DEFAULT_MAX_QUEUED_EVENTS = 16_384;

function readMaxQueuedEvents(): number {
  try {
    const value = Number.parseInt(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'), 10);
    return Number.isInteger(value) && value > 0 ? value : DEFAULT_MAX_QUEUED_EVENTS;
  } catch {
    return DEFAULT_MAX_QUEUED_EVENTS;
  }
}

/**
 * Infers inotify queue overflows, which node never reports: libuv drops the kernel's
 * IN_Q_OVERFLOW record (its watch descriptor is -1, so no handle matches). libuv reads the
 * queue until it is empty within one poll phase of the event loop, and a queue that overflowed
 * held max_queued_events records, so that poll phase delivers about that many events. When one
 * phase delivers half of max_queued_events or more, the monitor counts a suspected overflow and
 * every watched tree is scanned again in full. A false alarm costs a full scan, nothing more.
 * NOTE: the half margin is an estimate. It covers records that reach no handle (watches closed
 * moments before) as long as those stay under half of the queue.
 */
export class OverflowMonitor {
  /** Increases with every suspected overflow; a tree compares it with the value it last saw. */
  generation = 0;
  private readonly threshold: number;
  private eventsThisPhase = 0;

  constructor(threshold = Math.floor(readMaxQueuedEvents() / 2)) {
    this.threshold = Math.max(1, threshold);
  }

  /** Counts one delivered watch event. Must be called synchronously from the fs.watch listener. */
  noteEvent(): void {
    if (this.eventsThisPhase === 0) setImmediate(() => (this.eventsThisPhase = 0));
    this.eventsThisPhase++;
    if (this.eventsThisPhase === this.threshold) this.generation++;
  }
}
