#!/usr/bin/env bash
# 100 rounds of kill -9 during concurrent writes; prints the counts.
# Usage: bench/bench_crash.sh [ROUNDS]   (after `make`)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/tests/test_e2e_crash
MEMORI_BIN=build/memori MEMORI_CRASH_ROUNDS=${1:-100} build/tests/test_e2e_crash
