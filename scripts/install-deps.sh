#!/usr/bin/env bash
# Installs the Debian packages memori's build and tests need.
# --check-only: exit 1 when one is missing, install nothing.
set -euo pipefail
PKGS=(build-essential pkg-config libjansson-dev libsqlite3-dev wordnet-base dict-foldoc
      libcurl4-openssl-dev curl libhiredis-dev redis-server libjwt-dev clang libclang-rt-14-dev
      libpq-dev libstemmer-dev libpg-query-dev libprotobuf-c-dev libssl-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "${1:-}" = "--check-only" ] && exit 1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q "${missing[@]}"
