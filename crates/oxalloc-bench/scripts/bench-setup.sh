#!/usr/bin/env bash
# Installs what the benchmark harness (crates/oxalloc-bench) compares oxalloc against, plus
# the external programs some workloads run. Debian 12 (bookworm) package names; run as root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
    libjemalloc2 \
    libmimalloc2.0 \
    libtcmalloc-minimal4 \
    valgrind \
    sqlite3 \
    python3
