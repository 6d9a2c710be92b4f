import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

/** File contents by relative path (`/`-separated). Parent folders are created as needed. */
export type FileTree = Record<string, string>;

export interface Fixture {
  root: string;
  /** Removes `root`. Fixtures still present when the test file ends are removed then. */
  cleanup(): Promise<void>;
}

// Debian's librust-*-dev packages unpack crates here, in the layout of a cargo directory source.
const DEBIAN_CRATES_DIR = '/usr/share/cargo/registry';

// What `cargo new` writes, so the fixtures look like ordinary projects to the sync code.
const GITIGNORE = '/target\n';

const fixtureRoots = new Set<string>();

afterAll(async () => {
  await Promise.all([...fixtureRoots].map((root) => rm(root, { recursive: true, force: true })));
  fixtureRoots.clear();
});

/** Writes every file of `tree` below `root`. */
export async function writeFileTree(root: string, tree: FileTree): Promise<void> {
  for (const [relativePath, contents] of Object.entries(tree)) {
    const target = path.join(root, relativePath);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, contents);
  }
}

/** Writes `tree` into a fresh `rch-fixture-*` folder under the system temp folder. */
export async function createFixture(tree: FileTree): Promise<Fixture> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'rch-fixture-'));
  fixtureRoots.add(root);
  await writeFileTree(root, tree);
  return {
    root,
    cleanup: async () => {
      fixtureRoots.delete(root);
      await rm(root, { recursive: true, force: true });
    },
  };
}

function renderManifest(name: string, extra = ''): string {
  return `[package]\nname = "${name}"\nversion = "0.1.0"\nedition = "2021"\n${extra}`;
}

/** Creates a bin crate `hello` that prints `hello from rch` and has one passing unit test. */
export function createTinyCrate(): Promise<Fixture> {
  return createFixture({
    '.gitignore': GITIGNORE,
    'Cargo.toml': renderManifest('hello'),
    'src/main.rs': `fn greeting() -> &'static str {
    "hello from rch"
}

fn main() {
    println!("{}", greeting());
}

#[cfg(test)]
mod tests {
    #[test]
    fn greeting_names_rch() {
        assert_eq!(super::greeting(), "hello from rch");
    }
}
`,
  });
}

/**
 * Creates a bin crate `packaged` on Debian's packaged `clap` (derive), `regex` and `serde_json`,
 * resolved offline from the directory source `/usr/share/cargo/registry`.
 * `packaged --pattern 'r[a-z]+' --text 'hello rch'` prints `{"matches":["rch"],"pattern":"r[a-z]+"}`.
 */
export function createPackagedCratesProject(): Promise<Fixture> {
  return createFixture({
    '.gitignore': GITIGNORE,
    '.cargo/config.toml': `[source.crates-io]
replace-with = "debian-packages"

[source.debian-packages]
directory = "${DEBIAN_CRATES_DIR}"
`,
    'Cargo.toml': renderManifest(
      'packaged',
      `
[dependencies]
clap = { version = "4", features = ["derive"] }
regex = "1"
serde_json = "1"
`,
    ),
    'src/main.rs': `use clap::Parser;
use regex::Regex;

/// Prints the matches of a regular expression as JSON.
#[derive(Parser)]
struct Args {
    #[arg(long)]
    pattern: String,
    #[arg(long)]
    text: String,
}

fn main() {
    let args = Args::parse();
    let regex = Regex::new(&args.pattern).expect("invalid --pattern");
    let matches: Vec<&str> = regex.find_iter(&args.text).map(|found| found.as_str()).collect();
    let output = serde_json::json!({ "pattern": args.pattern, "matches": matches });
    println!("{output}");
}
`,
  });
}

export interface PathDependencyFixture extends Fixture {
  /** `<root>/app`, a bin crate that depends on `../libs/util`. */
  app: string;
  /** `<root>/libs/util`, a lib crate. */
  util: string;
}

/** Creates a bin crate `app` whose path dependency `util` lives outside its folder. `app` prints `util says hi`. */
export async function createPathDependencyProject(): Promise<PathDependencyFixture> {
  const fixture = await createFixture({
    'app/.gitignore': GITIGNORE,
    'app/Cargo.toml': renderManifest('app', '\n[dependencies]\nutil = { path = "../libs/util" }\n'),
    'app/src/main.rs': 'fn main() {\n    println!("{}", util::message());\n}\n',
    'libs/util/Cargo.toml': renderManifest('util'),
    'libs/util/src/lib.rs': 'pub fn message() -> &\'static str {\n    "util says hi"\n}\n',
  });
  return { ...fixture, app: path.join(fixture.root, 'app'), util: path.join(fixture.root, 'libs', 'util') };
}

export interface WorkspaceFixture extends Fixture {
  /** `<root>/crates/a`, bin crate `a` that depends on `b` and prints `a uses b`. */
  a: string;
  /** `<root>/crates/b`, lib crate `b`. */
  b: string;
}

/** Creates a workspace with members `crates/a` (bin) and `crates/b` (lib). */
export async function createWorkspace(): Promise<WorkspaceFixture> {
  const fixture = await createFixture({
    '.gitignore': GITIGNORE,
    'Cargo.toml': '[workspace]\nmembers = ["crates/a", "crates/b"]\nresolver = "2"\n',
    'crates/a/Cargo.toml': renderManifest('a', '\n[dependencies]\nb = { path = "../b" }\n'),
    'crates/a/src/main.rs': 'fn main() {\n    println!("a uses {}", b::name());\n}\n',
    'crates/b/Cargo.toml': renderManifest('b'),
    'crates/b/src/lib.rs': 'pub fn name() -> &\'static str {\n    "b"\n}\n',
  });
  return { ...fixture, a: path.join(fixture.root, 'crates', 'a'), b: path.join(fixture.root, 'crates', 'b') };
}

export interface CompileErrorFixture extends Fixture {
  /** Where rustc reports the type error, as in its `--> src/main.rs:2:22` line. */
  errorLocation: string;
}

/** Creates a bin crate `broken` whose main.rs assigns a string to a `u32` (rustc error E0308). */
export async function createCompileErrorCrate(): Promise<CompileErrorFixture> {
  const fixture = await createFixture({
    '.gitignore': GITIGNORE,
    'Cargo.toml': renderManifest('broken'),
    'src/main.rs': 'fn main() {\n    let count: u32 = "three";\n    println!("{count}");\n}\n',
  });
  return { ...fixture, errorLocation: 'src/main.rs:2:22' };
}

export interface FailingTestFixture extends Fixture {
  passingTest: string;
  failingTest: string;
}

/** Creates a lib crate `adder` with one passing and one failing `#[test]`, so `cargo test` exits with 101. */
export async function createFailingTestCrate(): Promise<FailingTestFixture> {
  const fixture = await createFixture({
    '.gitignore': GITIGNORE,
    'Cargo.toml': renderManifest('adder'),
    'src/lib.rs': `pub fn add(left: u64, right: u64) -> u64 {
    left + right
}

#[cfg(test)]
mod tests {
    use super::add;

    #[test]
    fn adds_small_numbers() {
        assert_eq!(add(2, 2), 4);
    }

    #[test]
    fn fails_on_purpose() {
        assert_eq!(add(2, 2), 5, "this test fails on purpose");
    }
}
`,
  });
  return { ...fixture, passingTest: 'tests::adds_small_numbers', failingTest: 'tests::fails_on_purpose' };
}
