#!/usr/bin/env python3
"""Turn the raw redis-benchmark --csv outputs of one bench run into a
markdown table (stdout) and one combined CSV.

usage: table.py MANIFEST COMBINED_CSV

MANIFEST has one line per redis-benchmark invocation, whitespace separated:
    SERVER PIPELINE TESTARG CSVFILE
in the order the invocations ran. Servers are shown in the fixed order
below; rows are (test, pipeline) in the order the tests were requested.
"""
import csv
import sys

SERVERS = ["cairn", "redis-always", "redis-everysec", "redis-nopersist"]
RATIOS = [("cairn", "redis-always"), ("cairn", "redis-nopersist")]
FIELDS = ["test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms",
          "p95_latency_ms", "p99_latency_ms", "max_latency_ms"]


def read_manifest(path):
    with open(path) as f:
        for line in f:
            parts = line.split(None, 3)
            if len(parts) == 4:
                yield parts[0], int(parts[1]), parts[2], parts[3].rstrip("\n")


def read_bench_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    out = []
    for row in rows:
        if not row or row[0] == "test":
            continue
        if len(row) != len(FIELDS):
            raise SystemExit("table.py: unexpected CSV row in %s: %r" % (path, row))
        out.append(dict(zip(FIELDS, row)))
    return out


def fmt_rps(v):
    return "%d" % round(float(v)) if v is not None else "—"


def fmt_ms(v):
    return "%.3f" % float(v) if v is not None else "—"


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    manifest, combined = argv[1], argv[2]

    results = {}       # (test, pipeline) -> server -> row dict
    row_order = []     # (test, pipeline), first-seen order
    test_rank = {}     # requested test arg -> index, for ordering rows
    flat = []
    for server, pipeline, testarg, path in read_manifest(manifest):
        test_rank.setdefault(testarg, len(test_rank))
        for r in read_bench_csv(path):
            key = (r["test"], pipeline)
            if key not in results:
                results[key] = {}
                row_order.append((test_rank[testarg], pipeline, r["test"]))
            results[key][server] = r
            flat.append([server, pipeline] + [r[k] for k in FIELDS])

    with open(combined, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["server", "pipeline"] + FIELDS)
        w.writerows(flat)

    present = {s for per in results.values() for s in per}
    servers = [s for s in SERVERS if s in present]
    ratios = [(a, b) for a, b in RATIOS if a in present and b in present]
    head = ["test", "P"]
    for s in servers:
        head += ["%s ops/s" % s, "%s p50 ms" % s, "%s p99 ms" % s]
    head += ["%s/%s" % (a, b.replace("redis-", "")) for a, b in ratios]
    lines = ["| " + " | ".join(head) + " |",
             "|" + "|".join(["---", "--:"] + ["--:"] * (len(head) - 2)) + "|"]

    for _, pipeline, test in sorted(row_order, key=lambda t: (t[0], t[1])):
        if "needed to benchmark" in test:
            continue      # redis-benchmark's fill before each LRANGE test
        per = results[(test, pipeline)]
        cells = [test, str(pipeline)]
        for s in servers:
            r = per.get(s)
            cells += [fmt_rps(r and r["rps"]),
                      fmt_ms(r and r["p50_latency_ms"]),
                      fmt_ms(r and r["p99_latency_ms"])]
        for a, b in ratios:
            ra, rb = per.get(a), per.get(b)
            if ra and rb and float(rb["rps"]) > 0:
                cells.append("%.2f" % (float(ra["rps"]) / float(rb["rps"])))
            else:
                cells.append("—")
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
