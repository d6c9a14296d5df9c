# Allocation-heavy Python for oxalloc-bench (run with PYTHONMALLOC=malloc): dicts, lists,
# strings, tuples and instances are built, reshaped and dropped. Prints one checksum line that
# depends only on the data.
import sys

QUICK = len(sys.argv) > 1 and sys.argv[1] == "quick"
ROUNDS = 1 if QUICK else 4
N = 5000 if QUICK else 20000
MASK = (1 << 64) - 1


class Record:
    def __init__(self, key, value, tags):
        self.key = key
        self.value = value
        self.tags = tags
        self.extra = {"v": value, "k": key[:3]}


def lcg(x):
    return (x * 6364136223846793005 + 1442695040888963407) & MASK


def one_round(seed):
    x = seed
    table = {}
    records = []
    for i in range(N):
        x = lcg(x)
        key = "k%x" % (x >> 40)
        tags = [str(i % 7), "t" + str(x % 13)]
        r = Record(key, x % 100003, tags)
        records.append(r)
        table.setdefault(key[:4], []).append(r)

    parts = ["%s=%d;%s" % (r.key, r.value, ",".join(r.tags)) for r in records[::2]]
    text = "|".join(parts)
    counts = {}
    for w in text.split("|"):
        k = w.split("=")[0][:3]
        counts[k] = counts.get(k, 0) + 1

    nested = [{"id": i, "vals": list(range(i % 17)), "name": "n" * (i % 29)} for i in range(N // 2)]
    total = sum(len(d["vals"]) + len(d["name"]) for d in nested)

    records.sort(key=lambda r: (r.value, r.key))
    pairs = sorted((r.value, r.key) for r in records[: N // 4])
    inverted = {}
    for r in records:
        for t in r.tags:
            inverted.setdefault(t, set()).add(r.value)
    sizes = sorted(len(v) for v in inverted.values())

    s = total
    s = (s * 31 + len(text)) & MASK
    s = (s * 31 + sum(counts.values()) + len(counts)) & MASK
    s = (s * 31 + sum(len(v) for v in table.values()) + len(table)) & MASK
    s = (s * 31 + records[0].value + records[-1].value + pairs[len(pairs) // 2][0]) & MASK
    s = (s * 31 + sum(sizes)) & MASK
    return s


checksum = 0
for rnd in range(ROUNDS):
    checksum = (checksum * 1000003 + one_round(rnd + 1)) & MASK
print("checksum: %016x" % checksum)
