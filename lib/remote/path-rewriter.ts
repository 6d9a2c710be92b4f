/** How long a possible partial match is held back before it is written anyway. */
const HOLD_BACK_FLUSH_MS = 50;

/**
 * A streaming replace of one byte sequence by another, for mapping worker paths in cargo's
 * output back to local ones. Output stays live: only a tail that could be the start of a
 * match is held back, and only until the next chunk or a short timer.
 */
export class PathRewriter {
  private pending: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private readonly needle: Buffer;
  private readonly replacement: Buffer;

  constructor(
    needle: string,
    replacement: string,
    private readonly write: (chunk: Buffer) => void,
  ) {
    this.needle = Buffer.from(needle);
    this.replacement = Buffer.from(replacement);
  }

  push(chunk: Buffer): void {
    this.clearTimer();
    const data = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    const parts: Buffer[] = [];
    let start = 0;
    for (let found = data.indexOf(this.needle, start); found !== -1; found = data.indexOf(this.needle, start)) {
      parts.push(data.subarray(start, found), this.replacement);
      start = found + this.needle.length;
    }
    const tail = data.subarray(start);
    const keep = this.partialMatchLength(tail);
    parts.push(tail.subarray(0, tail.length - keep));
    this.pending = Buffer.from(tail.subarray(tail.length - keep));

    const output = Buffer.concat(parts);
    if (output.length > 0) this.write(output);
    if (this.pending.length > 0) {
      this.timer = setTimeout(() => this.flush(), HOLD_BACK_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Writes whatever is held back. Call once the stream has ended. */
  flush(): void {
    this.clearTimer();
    if (this.pending.length > 0) this.write(this.pending);
    this.pending = Buffer.alloc(0);
  }

  /** Length of the longest end of `tail` that is a proper start of the needle. */
  private partialMatchLength(tail: Buffer): number {
    const longest = Math.min(tail.length, this.needle.length - 1);
    for (let length = longest; length > 0; length--) {
      if (tail.subarray(tail.length - length).equals(this.needle.subarray(0, length))) return length;
    }
    return 0;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
