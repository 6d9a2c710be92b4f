import path from 'node:path';

/** Returns true when `candidate` is `folder` or lies inside it; both are absolute, normalised paths. */
export function isInside(candidate: string, folder: string): boolean {
  return candidate === folder || candidate.startsWith(folder.endsWith(path.sep) ? folder : folder + path.sep);
}
