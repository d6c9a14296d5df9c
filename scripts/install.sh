#!/usr/bin/env bash
# Builds oxalloc and installs liboxalloc.so, liboxalloc.a, oxalloc.h and oxalloc.pc under PREFIX
# (default /usr/local). Usage: scripts/install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${1:-${PREFIX:-/usr/local}}"
cargo build --release -p oxalloc-capi
install -d "$PREFIX/lib" "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 0755 target/release/liboxalloc.so "$PREFIX/lib/liboxalloc.so"
install -m 0644 target/release/liboxalloc.a "$PREFIX/lib/liboxalloc.a"
install -m 0644 include/oxalloc.h "$PREFIX/include/oxalloc.h"
sed "s|@PREFIX@|$PREFIX|" include/oxalloc.pc.in > "$PREFIX/lib/pkgconfig/oxalloc.pc"
echo "installed oxalloc in $PREFIX (pkg-config: PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig)"
