#!/usr/bin/env bash
# Installs the Debian packages memori's build and tests need, and Node.js with
# npm when there is none (make installs Swagger UI for GET /docs with npm ci; a
# machine's own Node.js 20, with its npm, is kept: Debian's npm package would
# replace it with 18, older than playwright-core needs).
# --check-only: exit 1 when one is missing, install nothing.
set -euo pipefail
PKGS=(build-essential pkg-config libjansson-dev libsqlite3-dev wordnet-base dict-foldoc
      libcurl4-openssl-dev curl libhiredis-dev redis-server libjwt-dev clang libclang-rt-14-dev
      libpq-dev libstemmer-dev libpg-query-dev libprotobuf-c-dev libssl-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
{ command -v node && command -v npm; } >/dev/null 2>&1 || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
[ "${1:-}" = "--check-only" ] && exit 1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${missing[@]}"
