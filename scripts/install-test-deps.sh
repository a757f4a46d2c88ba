#!/usr/bin/env bash
# Installs what the PostgreSQL tests and benchmarks need beyond the build:
# the PostgreSQL 15 server (the tests start throwaway clusters with it) and
# pgvector (scripts/install-pgvector.sh), and promtool (Debian's prometheus
# package) that test_e2e_metrics checks GET /metrics with, and for the /docs
# browser test (test_e2e_openapi) Debian's chromium (node and npm come with
# scripts/install-deps.sh), then
# `npm ci` of package-lock.json (swagger-ui-dist, playwright-core) into
# build/npm, as make does. `make run` does not need them.
# --check-only: exit 1 when one is missing, install nothing.
# --with-faiss: also libfaiss-dev, which `make bench` compares the exact scan with.
set -euo pipefail
here=$(dirname "$0")
PKGS=(postgresql-15 postgresql-server-dev-15 dpkg-dev prometheus chromium)
if [ "${1:-}" = "--with-faiss" ]; then
    PKGS+=(libfaiss-dev)
    shift
fi
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "${1:-}" = "--check-only" ] && exit 1
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q "${missing[@]}"
fi
# playwright-core drives chromium from the pinned lock file (never a browser download).
if [ ! -f "$here/../build/npm/node_modules/playwright-core/package.json" ]; then
    [ "${1:-}" = "--check-only" ] && exit 1
    make -C "$here/.." -s npm
fi
exec "$here/install-pgvector.sh" "$@"
