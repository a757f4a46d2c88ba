#!/usr/bin/env bash
# Runs every test binary given, each in its own process under a time limit
# (libuv's habit), then prints the closing line "N passed, M failed, K skipped".
# Usage: run-tests.sh BUILD_DIR BINARY... ; "postgres:BINARY" runs an e2e binary
# against PostgreSQL (MEMORI_TEST_BACKEND=postgres) instead of SQLite.
#
# A binary counts its own tests (tests/support/test.c prints "<suite>: N
# passed, M failed, K skipped"). One that hangs past TEST_TIMEOUT seconds is
# sent SIGTERM (it names the test it was in and stops its servers), then
# SIGKILL after TEST_KILL_GRACE more; one killed by a signal, or exiting
# without its summary or non-zero after a clean one, counts as one more
# failure. The binaries that failed so are listed before the closing line.
# Each binary's wall time follows its output ("time NAME: S s"), and the
# slowest ten are listed before the closing line, for CI logs. TEST_JOBS=N
# runs N binaries at a time (default 1).
set -u
build=$1
shift
export MEMORI_BIN="$build/memori"
limit=${TEST_TIMEOUT:-300}
grace=${TEST_KILL_GRACE:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/memori-run-tests-XXXXXX")
# One initdb per run: each binary's throwaway PostgreSQL cluster is a copy of
# this template (tests/support/pg_server.c), made by the first that needs one.
own_template=
if [ -z "${MEMORI_TEST_PG_TEMPLATE:-}" ]; then
    MEMORI_TEST_PG_TEMPLATE=$(mktemp -d "${TMPDIR:-/tmp}/memori-pg-template-XXXXXX")
    own_template=$MEMORI_TEST_PG_TEMPLATE
    export MEMORI_TEST_PG_TEMPLATE
fi
trap 'rm -rf "$work"; [ -z "$own_template" ] || rm -rf "$own_template"' EXIT
# TEST_JOBS binaries at a time (default 1). Each binary's output is printed
# whole when it ends, so the log reads the same; with more than one job the
# binaries end (and print) in the order they finish.
jobs=${TEST_JOBS:-1}
passed=0
failed=0
skipped=0
broken=()
times=()
declare -A job_of=() # pid of a running binary -> its index in $@
args=("$@")

# Runs binary number $1 of args in the background; its output, exit code and start time
# into $work/$1.{log,rc,start}.
launch() {
    local i=$1 arg=${args[$1]} bin backend=
    bin=${arg#postgres:}
    [ "$bin" != "$arg" ] && backend=postgres
    echo "$EPOCHREALTIME $SECONDS" >"$work/$i.start"
    (
        # Output to a file, not a pipe: a server the binary left behind must not
        # hold the runner open. timeout(1) runs it in a process group of its own
        # and signals the whole group, so the servers it started go too.
        # (The braces keep bash's own "Segmentation fault" notice out: we report it below.)
        if [ -n "$backend" ]; then
            { MEMORI_TEST_BACKEND=$backend timeout -k "$grace" "$limit" "$bin" >"$work/$i.log" 2>&1; } 2>/dev/null
        else
            { timeout -k "$grace" "$limit" "$bin" >"$work/$i.log" 2>&1; } 2>/dev/null
        fi
        echo $? >"$work/$i.rc"
    ) &
    job_of[$!]=$i
}

# Prints binary number $1's output and counts its results.
collect() {
    local i=$1 arg=${args[$1]} bin name log=$work/$1.log rc start t0 elapsed wall line why f p s sig
    bin=${arg#postgres:}
    name=$bin
    if [ "$bin" != "$arg" ]; then
        name="$bin on PostgreSQL"
        echo "== $name"
    fi
    rc=$(cat "$work/$i.rc" 2>/dev/null || echo 255)
    read -r start t0 <"$work/$i.start"
    elapsed=$((SECONDS - t0))
    wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    grep -v '^access ' "$log"
    echo "time $name: $wall s"
    times+=("$wall $name")
    f=0
    line=$(grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
        s=0
        case $line in *skipped) s=$(echo "$line" | sed -E 's/.* ([0-9]+) skipped$/\1/') ;; esac
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
    fi
    why=
    if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$elapsed" -ge "$limit" ]; }; then
        why="timed out after ${limit} s (TEST_TIMEOUT), killed"
    elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
        sig=$((rc - 128))
        why="killed by signal $sig (SIG$(kill -l "$sig" 2>/dev/null || echo '?'))"
    elif [ -z "$line" ]; then
        why="exited $rc without a summary"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        why="exited $rc after its summary"
    fi
    if [ -n "$why" ]; then
        echo "CRASH $name: $why"
        broken+=("$name: $why")
        failed=$((failed + 1))
    fi
}

next=0
while [ "$next" -lt ${#args[@]} ] || [ ${#job_of[@]} -gt 0 ]; do
    if [ "$next" -lt ${#args[@]} ] && [ ${#job_of[@]} -lt "$jobs" ]; then
        launch "$next"
        next=$((next + 1))
        continue
    fi
    done_pid=
    wait -n -p done_pid "${!job_of[@]}"
    [ -n "$done_pid" ] || continue
    collect "${job_of[$done_pid]}"
    unset "job_of[$done_pid]"
done
if [ ${#times[@]} -gt 0 ]; then
    echo "slowest binaries (wall seconds):"
    printf '%s\n' "${times[@]}" | sort -rn | head -10 | sed 's/^/    /'
fi
if [ ${#broken[@]} -gt 0 ]; then
    echo "binaries that did not finish cleanly:"
    printf '    %s\n' "${broken[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
