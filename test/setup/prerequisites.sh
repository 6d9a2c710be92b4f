#!/bin/sh
# Checks what the test suite runs against (OpenSSH's sshd, rsync, Debian's packaged crates,
# cargo) and installs the Debian packages that are missing when it runs as root with apt-get.
# Runs before `npm test` and, with the benchmarks' extra packages as arguments, before
# `npm run bench`; as another user it prints the command to run instead.
set -eu

packages="openssh-server openssh-client rsync librust-regex-dev librust-serde-json-dev librust-clap-dev $*"
missing=
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing$missing" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
  else
    echo "setup: missing Debian packages:$missing" >&2
    echo "  run: sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

# sshd refuses to start without its privilege separation folder.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
  echo "setup: cargo not found on PATH or in ${CARGO_HOME:-$HOME/.cargo}/bin; install Rust with rustup" >&2
  exit 1
fi
