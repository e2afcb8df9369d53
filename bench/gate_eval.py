"""What the label-noise gate catches and misses, measured on copies of SST-2.

For each trial: a fresh embedded home; the first 40,000 SST-2 train rows are uploaded and promoted (the
production model the gate scores with); then an upload of N other SST-2 rows with a fraction F of its labels
flipped. The gate holds the upload when its label agreement with production is far below production's
held-out accuracy (one-sided binomial test; POLARITY_GATE_MARGIN, POLARITY_GATE_ALPHA). Prints, for each
size and flip fraction, whether the upload was held, the agreement and the p-value, and writes the table to
bench/results/gate.md.

Usage: python3 bench/gate_eval.py [--polarity target/release/polarity] [--data ../shared/data/sst2]
"""
import argparse
import json
import os
import random
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--polarity", default=os.path.join(ROOT, "target", "release", "polarity"))
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "sst2"))
    ap.add_argument("--sizes", default="500,2000,10000", help="upload sizes (rows), comma-separated")
    ap.add_argument("--flips", default="0,0.1,0.3,0.5", help="flipped label fractions, comma-separated")
    args = ap.parse_args()
    rows = []
    with open(os.path.join(args.data, "train.tsv"), encoding="utf-8") as f:
        header = next(f).rstrip("\r\n").split("\t")
        ti, li = header.index("sentence"), header.index("label")
        for line in f:
            cols = line.rstrip("\r\n").split("\t")
            rows.append((cols[ti], cols[li]))
    random.Random(7).shuffle(rows)
    base, rest = rows[:40000], rows[40000:]
    sizes = [int(s) for s in args.sizes.split(",")]
    flips = [float(x) for x in args.flips.split(",")]

    def write(path, rs):
        with open(path, "w", encoding="utf-8") as f:
            f.write("label\tsentence\n")
            for t, l in rs:
                f.write(f"{l}\t{t}\n")

    table = []
    with tempfile.TemporaryDirectory() as tmp:
        write(os.path.join(tmp, "base.tsv"), base)
        home0 = os.path.join(tmp, "home0")
        subprocess.run([args.polarity, "pipeline", "run", os.path.join(tmp, "base.tsv"), "--home", home0],
                       check=True, capture_output=True)
        for n in sizes:
            for flip in flips:
                rng = random.Random(int(n * 1000 + flip * 100))
                up = rest[:n]
                k = int(round(flip * n))
                idx = set(rng.sample(range(n), k))
                up = [(t, ("1" if l == "0" else "0") if i in idx else l) for i, (t, l) in enumerate(up)]
                home = os.path.join(tmp, f"h-{n}-{flip}")
                subprocess.run(["cp", "-r", home0, home], check=True)
                path = os.path.join(tmp, f"up-{n}-{flip}.tsv")
                write(path, up)
                out = subprocess.run([args.polarity, "pipeline", "run", path, "--home", home, "--json"],
                                     capture_output=True, text=True)
                gate = None
                for line in out.stdout.splitlines():
                    v = json.loads(line)
                    if v.get("stage") == "process":
                        gate = v["outcome"].get("gate")
                table.append((n, flip, gate))
                print(n, flip, gate and (gate["held"], round(gate["agreement"], 4), gate["p_value"]), flush=True)
    lines = [
        "| upload rows | labels flipped | held | label agreement | production accuracy | p-value |",
        "|---:|---:|:---:|---:|---:|---:|",
    ]
    for n, flip, g in table:
        if g is None:
            lines.append(f"| {n} | {flip:.0%} | (no gate) | | | |")
            continue
        lines.append(
            f"| {n} | {flip:.0%} | {'**held**' if g['held'] else 'passed'} | {g['agreement']:.4f} | "
            f"{g['expected']:.4f} | {g['p_value']:.3g} |"
        )
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "gate.md"), "w") as f:
        f.write("# Label-noise gate on SST-2 (bench/gate_eval.py)\n\nProduction: 40,000 SST-2 train rows; "
                "default gate settings (margin 0.10, alpha 0.01).\n\n" + text + "\n")


if __name__ == "__main__":
    main()
