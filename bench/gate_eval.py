"""What the label-noise gate holds and passes, measured over a dataset's life on two public datasets.

For each dataset: a production model is trained in a fresh embedded home from a base upload (the first
rows of a seeded shuffle). Then, for every scenario and repetition, a copy of that home receives one more
upload, and the process stage's gate finding (held or passed, and why) is recorded:

* clean fresh: rows production has never seen, true labels;
* clean re-upload: rows already in the base upload, true labels;
* correction: the base upload carried wrong labels on some rows; this upload gives those rows their true
  labels (a genuine correction, which the gate holds for a person by design);
* N% flipped fresh / N% flipped re-upload: as the clean ones, with N% of the labels replaced by another class;
* other domain: clean rows of the other dataset with the classes both share (negative, positive).

Datasets: SST-2 (movie-review phrases, 2 classes; `--sst2`, the shared copy) and TweetEval sentiment
(tweets, 3 classes; `--tweeteval`, a folder with `{val,test}_{text,labels}.txt` from
https://github.com/cardiffnlp/tweeteval `datasets/sentiment/`). Writes bench/results/gate.md.

Usage: python3 bench/gate_eval.py --tweeteval DIR [--polarity target/release/polarity] [--reps 20]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERNARY = {"0": "negative", "1": "neutral", "2": "positive"}


def sst2(path):
    rows = []
    with open(os.path.join(path, "train.tsv"), encoding="utf-8") as f:
        header = next(f).rstrip("\r\n").split("\t")
        ti, li = header.index("sentence"), header.index("label")
        for line in f:
            cols = line.rstrip("\r\n").split("\t")
            rows.append((cols[ti].strip(), "positive" if cols[li] == "1" else "negative"))
    return rows


def tweeteval(path):
    rows = []
    for split in ("val", "test"):
        with open(os.path.join(path, f"{split}_text.txt"), encoding="utf-8") as t, open(
            os.path.join(path, f"{split}_labels.txt"), encoding="utf-8"
        ) as l:
            for text, label in zip(t, l):
                text = " ".join(text.split())
                if text:
                    rows.append((text, TERNARY[label.strip()]))
    return rows


def dedupe(rows):
    """One row per text (the datasets repeat some phrases); keeps the first."""
    seen, out = set(), []
    for t, l in rows:
        if t.lower() not in seen:
            seen.add(t.lower())
            out.append((t, l))
    return out


def flip(rows, frac, classes, rng):
    idx = set(rng.sample(range(len(rows)), int(round(frac * len(rows)))))
    return [(t, rng.choice([c for c in classes if c != l]) if i in idx else l) for i, (t, l) in enumerate(rows)]


def write(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("text\tlabel\n")
        for t, l in rows:
            f.write(f"{t.replace(chr(9), ' ')}\t{l}\n")


def gate_of(polarity, home, path):
    out = subprocess.run([polarity, "pipeline", "run", path, "--home", home, "--json"], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        v = json.loads(line)
        if v.get("stage") == "process":
            return v["outcome"].get("gate")
    raise SystemExit(f"no process step for {path}: {out.stderr[-2000:]}")


def run_dataset(name, rows, other, args, tmp):
    rng = random.Random(7)
    rows = dedupe(rows)
    rng.shuffle(rows)
    classes = sorted({l for _, l in rows})
    sizes = [int(x) for x in args.sizes.split(",")]
    base_n = args.base if len(rows) > args.base + 4 * max(sizes) else len(rows) // 2
    base, pool = rows[:base_n], rows[base_n:]
    # the base upload carries wrong labels on its first `fix` rows: what a correction later fixes
    fix = args.correction
    wrong = flip(base[:fix], 1.0, classes, random.Random(1))
    base_file = os.path.join(tmp, f"{name}-base.tsv")
    write(base_file, wrong + base[fix:])
    home0 = os.path.join(tmp, f"{name}-home0")
    subprocess.run([args.polarity, "pipeline", "run", base_file, "--home", home0], check=True, capture_output=True)
    shared = {c for _, c in other}
    other_rows = [r for r in dedupe(other) if r[1] in shared and r[1] in classes and r[1] != "neutral"]
    scenarios = [("clean fresh", "fresh", 0.0), ("clean re-upload", "known", 0.0), ("correction", "correction", 0.0)]
    for f in (0.1, 0.2, 0.3):
        scenarios.append((f"{f:.0%} flipped fresh", "fresh", f))
    for f in (0.1, 0.2, 0.3):
        scenarios.append((f"{f:.0%} flipped re-upload", "known", f))
    scenarios.append(("other domain, clean", "other", 0.0))
    results = []
    for (label, kind, frac), n in [(sc, n) for sc in scenarios for n in sizes]:
        if kind == "correction" and n != sizes[0]:
            continue
        held, agreements, changed = 0, [], []
        for rep in range(args.reps):
            r = random.Random(zlib.crc32(f"{name}/{label}/{n}/{rep}".encode()))
            if kind == "fresh":
                up = r.sample(pool, n)
            elif kind == "known":
                up = r.sample(base[fix:], n)
            elif kind == "correction":
                up = base[:fix]
            else:
                up = r.sample(other_rows, n)
            if frac:
                up = flip(up, frac, classes, r)
            home = os.path.join(tmp, f"{name}-h")
            shutil.rmtree(home, ignore_errors=True)
            shutil.copytree(home0, home)
            path = os.path.join(tmp, f"{name}-up.tsv")
            write(path, up)
            g = gate_of(args.polarity, home, path)
            held += bool(g and g["held"])
            if g:
                if g["rows"]:
                    agreements.append(g["agreement"])
                if g["known"]:
                    changed.append(g["changed"] / g["known"])
            if kind == "correction":
                break  # the same upload every time
        reps = 1 if kind == "correction" else args.reps
        rows_n = fix if kind == "correction" else n
        results.append((label, rows_n, held, reps, agreements, changed, g))
        print(name, label, rows_n, f"held {held}/{reps}", flush=True)
    return base_n, results, g["expected"] if g else None


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--polarity", default=os.path.join(ROOT, "target", "release", "polarity"))
    ap.add_argument("--sst2", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--tweeteval", required=True, help="folder with TweetEval sentiment {val,test}_{text,labels}.txt")
    ap.add_argument("--base", type=int, default=20000, help="rows in the base (production) upload")
    ap.add_argument("--sizes", default="1000,2000", help="rows per later upload, comma-separated")
    ap.add_argument("--reps", type=int, default=20, help="repetitions per scenario")
    ap.add_argument("--correction", type=int, default=200, help="rows the base upload mislabels and a correction fixes")
    args = ap.parse_args()
    data = {"SST-2": sst2(args.sst2), "TweetEval": tweeteval(args.tweeteval)}
    t0 = time.time()
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, other in (("SST-2", "TweetEval"), ("TweetEval", "SST-2")):
            base_n, results, expected = run_dataset(name, data[name], data[other], args, tmp)
            lines = [
                f"### {name} (production trained on {base_n:,} rows; held-out accuracy {expected:.4f})",
                "",
                "| upload | rows | held | mean fresh-row agreement | mean share of known rows relabelled |",
                "|---|---:|---:|---:|---:|",
            ]
            for label, rows_n, held, reps, agreements, changed, _ in results:
                lines.append(
                    f"| {label} | {rows_n:,} | {held}/{reps} | "
                    + (f"{mean(agreements):.4f}" if agreements else "(no fresh rows)")
                    + " | "
                    + (f"{mean(changed):.4f}" if changed else "(none known)")
                    + " |"
                )
            sections.append("\n".join(lines))
    text = "\n\n".join(sections)
    print(text)
    settings = "default gate settings (POLARITY_GATE_MAX_NOISE 0.05, POLARITY_GATE_ALPHA 0.01, POLARITY_GATE_MAX_CHANGED 0.02)"
    head = (
        "# Label-noise gate over a dataset's life (bench/gate_eval.py)\n\n"
        f"`python3 bench/gate_eval.py --tweeteval DIR --reps {args.reps}`, {settings}; "
        f"{time.time() - t0:.0f} s on the 2-core machine. Each upload goes to a copy of the same production home; "
        "rows are drawn with a different seed per repetition. Targets: at least 95% of 20%-flipped uploads held, "
        "at most 5% of clean uploads held. A correction (the true labels of the base upload's "
        f"{args.correction} mislabelled rows) is held by design: a person's call. The other-domain "
        "uploads are clean rows of the other dataset with negative/positive labels.\n\n"
    )
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "gate.md"), "w") as f:
        f.write(head + text + "\n")


if __name__ == "__main__":
    sys.exit(main())
