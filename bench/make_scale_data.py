"""Writes the N-row scale set the peer's scale_test.py builds in memory, as a TSV (label<TAB>sentence):
SST-2 train (copy 0 = original, later copies = the same sentences with word order shuffled per sentence,
random.Random(12345)), so both tools train on identical rows.
Usage: python3 bench/make_scale_data.py N OUT.tsv"""
import argparse, os, random

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog="SST2=DIR overrides the data folder.")
ap.add_argument("n", type=int, metavar="N", help="rows to write")
ap.add_argument("out", metavar="OUT.tsv", help="where to write them (label<TAB>sentence, with a header)")
args = ap.parse_args()
N, out = args.n, args.out
src = os.environ.get("SST2", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "sst2"))
rows = [l.rstrip("\n").split("\t", 1) for l in open(os.path.join(src, "train.tsv"), encoding="utf-8")][1:]
Xtr, ytr = [r[1] for r in rows], [r[0] for r in rows]
rng = random.Random(12345)
X, y = list(Xtr), list(ytr)
while len(X) < N:
    for s, l in zip(Xtr, ytr):
        if len(X) >= N:
            break
        w = s.split(); rng.shuffle(w); X.append(" ".join(w)); y.append(l)
tmp = out + ".tmp"
with open(tmp, "w", encoding="utf-8") as f:
    f.write("label\tsentence\n")
    for s, l in zip(X, y):
        f.write(f"{l}\t{s}\n")
os.replace(tmp, out)
