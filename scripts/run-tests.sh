#!/usr/bin/env bash
# Runs every test binary given, then prints the closing line "N passed, M failed".
# Usage: run-tests.sh BUILD_DIR BINARY... ; "postgres:BINARY" runs an e2e binary
# against PostgreSQL (MEMORI_TEST_BACKEND=postgres) instead of SQLite.
set -u
build=$1
shift
export MEMORI_BIN="$build/memori"
passed=0
failed=0
crashed=0
for arg in "$@"; do
    bin=${arg#postgres:}
    if [ "$bin" != "$arg" ]; then
        echo "== $bin on PostgreSQL"
        out=$(MEMORI_TEST_BACKEND=postgres "$bin" 2>&1)
    else
        out=$("$bin" 2>&1)
    fi
    rc=$?
    echo "$out" | grep -v '^access ' 
    line=$(echo "$out" | grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' | tail -1)
    if [ -z "$line" ]; then
        echo "CRASH $bin exited $rc without a summary"
        crashed=$((crashed + 1))
        continue
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed$/\1/')
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "CRASH $bin exited $rc after its summary"
        crashed=$((crashed + 1))
    fi
done
failed=$((failed + crashed))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
