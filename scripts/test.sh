#!/usr/bin/env bash
# The project's test command: build the whole workspace, then run every test.
#
# The release build must come first: it produces target/release/liboxalloc.so, which the
# real-program tests (crates/oxalloc-capi/tests/real_programs.rs) preload. `cargo test` does not
# build that cdylib itself.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --workspace
# The documentation builds without warnings.
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
cargo test --release --workspace
# An unoptimised build of the library loads and serves a program too (it links no `std`, and
# unoptimised code needs more of the runtime than the release build does).
cargo build -p oxalloc-capi
out=$(LD_PRELOAD="$PWD/target/debug/liboxalloc.so" OXALLOC_STATS=1 /bin/ls / 2>&1 >/dev/null)
grep -q "oxalloc: stats" <<<"$out" || { echo "debug liboxalloc.so did not serve /bin/ls: $out"; exit 1; }
echo "debug build of liboxalloc.so: loads and serves /bin/ls"
