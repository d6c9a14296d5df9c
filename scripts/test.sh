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
