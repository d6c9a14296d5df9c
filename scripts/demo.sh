#!/usr/bin/env bash
# Quick start, step 1: builds everything, then runs a real program (Python building large
# dicts, lists and strings) with oxalloc preloaded and prints oxalloc's statistics at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
lib="$PWD/target/release/liboxalloc.so"
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
echo "--- $py under oxalloc (LD_PRELOAD=$lib OXALLOC_STATS=1)"
PYTHONMALLOC=malloc OXALLOC_STATS=1 LD_PRELOAD="$lib" "$py" -c '
d = {i: str(i) * 8 for i in range(300000)}
words = " ".join(d[i] for i in range(0, 300000, 7)).split()
print("dict entries:", len(d), "words:", len(words), "longest:", max(map(len, words)))
'
