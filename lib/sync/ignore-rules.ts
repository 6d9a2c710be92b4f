import fs from 'node:fs/promises';
import path from 'node:path';
import ignore, { type Ignore } from 'ignore';

/** Patterns for files that usually hold secrets; never sent unless a `.rchignore` re-includes them. */
export const SECRET_PATTERNS = ['.env*', '*.pem', '*.key', '.cargo/credentials', '.cargo/credentials.toml'];

/** One folder's rules: patterns relative to `base`. */
interface RuleLayer {
  base: string;
  rules: Ignore;
}

/**
 * The ignore rules in force inside one folder. Layers are checked in order and the last one
 * that matches decides, so: every `.gitignore` from the root down, then the secret patterns
 * and the project's `exclude` list, then every `.rchignore` from the root down. A `!pattern`
 * in a `.rchignore` can therefore re-include what `.gitignore` or the secret list excludes.
 */
export class IgnoreScope {
  private constructor(
    private readonly gitLayers: RuleLayer[],
    private readonly fixedLayers: RuleLayer[],
    private readonly rchLayers: RuleLayer[],
  ) {}

  /** The scope at a sync root, with the secret patterns and the project's extra excludes. */
  static atRoot(root: string, extraExcludes: string[]): IgnoreScope {
    const fixed = ignore().add(SECRET_PATTERNS).add(extraExcludes);
    return new IgnoreScope([], [{ base: root, rules: fixed }], []);
  }

  /** The scope for `folder`, a child of this scope's folder, adding its own ignore files. */
  async enter(folder: string): Promise<IgnoreScope> {
    const [gitignore, rchignore] = await Promise.all([
      readRules(path.join(folder, '.gitignore')),
      readRules(path.join(folder, '.rchignore')),
    ]);
    if (gitignore === undefined && rchignore === undefined) return this;
    return new IgnoreScope(
      gitignore === undefined ? this.gitLayers : [...this.gitLayers, { base: folder, rules: gitignore }],
      this.fixedLayers,
      rchignore === undefined ? this.rchLayers : [...this.rchLayers, { base: folder, rules: rchignore }],
    );
  }

  /** Whether `absolutePath` is excluded; `isDirectory` lets `dir/` patterns match. */
  isIgnored(absolutePath: string, isDirectory: boolean): boolean {
    let ignored = false;
    for (const layer of [...this.gitLayers, ...this.fixedLayers, ...this.rchLayers]) {
      const relative = path.relative(layer.base, absolutePath);
      if (relative === '' || relative === '..' || relative.startsWith('../') || path.isAbsolute(relative)) continue;
      const result = layer.rules.test(isDirectory ? `${relative}/` : relative);
      if (result.ignored) ignored = true;
      else if (result.unignored) ignored = false;
    }
    return ignored;
  }
}

async function readRules(file: string): Promise<Ignore | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') {
      return undefined;
    }
    throw error;
  }
  return ignore().add(text);
}
