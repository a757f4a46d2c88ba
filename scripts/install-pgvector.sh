#!/usr/bin/env bash
# Builds and installs pgvector 0.8 into PostgreSQL 15 from Debian's own source
# package: Debian 12 ships PostgreSQL 15 but no pgvector; trixie's pgvector
# (0.8.0) builds against postgresql-server-dev-15. Only Debian's registry is used.
# --check-only: exit 1 when it is not installed, change nothing.
set -euo pipefail
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
control="$($PG_CONFIG --sharedir 2>/dev/null)/extension/vector.control"
if [ -f "$control" ] && grep -q "default_version = '0\.8" "$control"; then
    exit 0
fi
[ "${1:-}" = "--check-only" ] && exit 1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
src=/etc/apt/sources.list.d/memori-trixie-src.sources
if [ ! -f "$src" ]; then
    # Source packages only (deb-src): nothing binary is taken from trixie.
    $SUDO tee "$src" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's sandbox user must be able to write the download directory.
chmod 755 "$work"
(cd "$work" && apt-get source -q pgvector)
dir=$(find "$work" -maxdepth 1 -type d -name 'pgvector-0.8*' | head -1)
[ -n "$dir" ] || { echo "install-pgvector: no pgvector 0.8 source found" >&2; exit 1; }
make -C "$dir" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
$SUDO make -C "$dir" install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "install-pgvector: installed $(basename "$dir") into $($PG_CONFIG --pkglibdir)" >&2
