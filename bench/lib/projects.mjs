// Generates the projects the benchmarks build: a crate on Debian's packaged crates, and a crate
// inside a tree of 50,000 small files. Crates resolve offline from Debian's directory source.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const DEBIAN_CRATES_DIR = '/usr/share/cargo/registry';

/** Debian packages that provide the crates of createPackagedProject. bench/prerequisites.sh installs them. */
export const PACKAGED_CRATE_PACKAGES = [
  'librust-anyhow-dev',
  'librust-clap-dev',
  'librust-crossbeam-channel-dev',
  'librust-env-logger-dev',
  'librust-flate2-dev',
  'librust-itertools-dev',
  'librust-log-dev',
  'librust-petgraph-dev',
  'librust-rand-dev',
  'librust-rayon-dev',
  'librust-regex-dev',
  'librust-serde-derive-dev',
  'librust-serde-json-dev',
  'librust-tokio-dev',
  'librust-unicode-segmentation-dev',
];

const PACKAGED_MANIFEST = `[package]
name = "packaged"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
clap = { version = "4", features = ["derive"] }
crossbeam-channel = "0.5"
env_logger = "0.9"
flate2 = "1"
itertools = "0.10"
log = "0.4"
petgraph = "0.6"
rand = "0.8"
rayon = "1"
regex = "1"
serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "sync", "time"] }
unicode-segmentation = "1"
`;

const PACKAGED_MAIN = `use clap::Parser;
use itertools::Itertools;
use rayon::prelude::*;
use std::io::Write;
use unicode_segmentation::UnicodeSegmentation;

/// Counts words and regex matches. It exists to compile a realistic set of crates.
#[derive(Parser, serde::Serialize)]
struct Args {
    #[arg(long, default_value = "r[a-z]+")]
    pattern: String,
    #[arg(long, default_value = "hello rch, remote cargo")]
    text: String,
}

fn main() -> anyhow::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let regex = regex::Regex::new(&args.pattern)?;
    let matches: Vec<&str> = regex.find_iter(&args.text).map(|found| found.as_str()).collect();
    let words = args.text.unicode_words().sorted().dedup().collect::<Vec<_>>();
    let total: u64 = (1..=1000u64).into_par_iter().sum();
    let mut graph = petgraph::Graph::<&str, ()>::new();
    let first = graph.add_node("a");
    let second = graph.add_node("b");
    graph.add_edge(first, second, ());
    let (sender, receiver) = crossbeam_channel::unbounded();
    sender.send(rand::random::<u8>())?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(args.text.as_bytes())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let doubled = runtime.block_on(async { total * 2 });
    log::info!("graph has {} nodes", graph.node_count());
    let output = serde_json::json!({
        "args": args,
        "matches": matches,
        "words": words,
        "sum": doubled,
        "random": receiver.recv()? > 0,
        "compressed": encoder.finish()?.len(),
    });
    println!("{output}");
    Ok(())
}
`;

async function writeTree(root, files) {
  for (const [relative, contents] of Object.entries(files)) {
    const target = path.join(root, relative);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, contents);
  }
}

function cargoSourceConfig() {
  return `[source.crates-io]\nreplace-with = "debian-packages"\n\n[source.debian-packages]\ndirectory = "${DEBIAN_CRATES_DIR}"\n`;
}

/** Writes a bin crate `packaged` on 15 packaged crates, which compiles 63 crates with their dependencies. */
export async function createPackagedProject(root) {
  await writeTree(root, {
    '.gitignore': '/target\n',
    '.cargo/config.toml': cargoSourceConfig(),
    'Cargo.toml': PACKAGED_MANIFEST,
    'src/main.rs': PACKAGED_MAIN,
  });
}

/** Writes a bin crate `tiny` that prints one line. */
export async function createTinyProject(root) {
  await writeTree(root, {
    '.gitignore': '/target\n',
    'Cargo.toml': '[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n',
    'src/main.rs': 'fn main() {\n    println!("tiny");\n}\n',
  });
}

/**
 * Writes a bin crate `tree` plus `fileCount` small text files under `assets/`, 50 files per
 * folder in two levels of folders, as a large repository with data next to its code looks.
 */
export async function createLargeTree(root, fileCount) {
  await createTinyProject(root);
  await writeFile(path.join(root, 'Cargo.toml'), '[package]\nname = "tree"\nversion = "0.1.0"\nedition = "2021"\n');
  const perFolder = 50;
  const folders = Math.ceil(fileCount / perFolder);
  for (let folder = 0; folder < folders; folder++) {
    const dir = path.join(root, 'assets', `group-${Math.floor(folder / 40)}`, `set-${folder % 40}`);
    await mkdir(dir, { recursive: true });
    const count = Math.min(perFolder, fileCount - folder * perFolder);
    const writes = [];
    for (let file = 0; file < count; file++) {
      writes.push(writeFile(path.join(dir, `item-${file}.txt`), `asset ${folder}/${file}\n`));
    }
    await Promise.all(writes);
  }
}
