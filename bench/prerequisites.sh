#!/bin/sh
# Installs what the benchmarks run against: the test suite's packages plus the Debian crates
# named as arguments (bench/run.mjs passes those of bench/lib/projects.mjs).
set -eu
exec sh "$(dirname "$0")/../test/setup/prerequisites.sh" "$@"
