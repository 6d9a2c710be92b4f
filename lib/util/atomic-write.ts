import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** Returns a temporary name beside `target`, so that a rename onto `target` stays on one file system. */
export function temporaryPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.rch-${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes `data` to `target` through a temporary file and a rename, so readers never see half a file. */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const temporary = temporaryPathFor(target);
  try {
    await fs.writeFile(temporary, data, { mode: options.mode ?? 0o644 });
    await fs.rename(temporary, target);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
}
