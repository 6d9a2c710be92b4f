#!/bin/sh
# Checks what the benchmarks run against (OpenSSH's sshd and client, rsync, Debian's packaged
# crates) and installs the missing Debian packages when run as root with apt-get. bench/run.mjs
# runs it first; as another user it prints the command to run instead.
set -eu

packages="openssh-server openssh-client rsync $*"
missing=
for package in $packages; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bench setup: installing$missing" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
  else
    echo "bench setup: missing Debian packages:$missing" >&2
    echo "  run: sudo apt-get install -y$missing" >&2
    exit 1
  fi
fi

# sshd refuses to start without its privilege separation folder.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
