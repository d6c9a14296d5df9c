#!/usr/bin/env bash
# Quick start, step 1: builds everything, then runs a real program (Python building large
# dicts, lists and strings) under oxalloc with `oxalloc run --stats`, which prints oxalloc's
# statistics for every process of the program when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace
py=/usr/bin/python3
[ -x "$py" ] || py="$(command -v python3)"
echo "--- target/release/oxalloc run --stats -- $py ..."
PYTHONMALLOC=malloc target/release/oxalloc run --stats -- "$py" -c '
d = {i: str(i) * 8 for i in range(300000)}
words = " ".join(d[i] for i in range(0, 300000, 7)).split()
print("dict entries:", len(d), "words:", len(words), "longest:", max(map(len, words)))
'
