"""Which training defaults? A grid of Polarity's settings against the scikit-learn peer on several public
sentiment sets, chosen by the worst-case gain over the peer (not the average), then each set's test split
scored once with the peer, the old defaults, the chosen defaults and `--tune`. Writes
bench/results/defaults.md (and caches every run in bench/out/defaults_cache.json, so a rerun resumes).

Usage (from the repo root; the peer's venv from ../shared/peers/setup.sh, a release `polarity`):
    cargo build --release -p polarity-cli
    /tmp/peervenv/bin/python bench/defaults_study.py --data /work/datasets [--sets sst2,airline,...]

Data: `--data DIR` holds one folder per set with `train.jsonl`, `test.jsonl` and optionally `val.jsonl`
(lines `{"text": ..., "label": ...}`; DIR/SOURCES.md says where each came from and how it was split). SST-2
comes from ../shared/data/sst2 (train.tsv; its GLUE dev.tsv is the test split).

Protocol (each test split is read once, at the end):
  1. Selection split. A set's own `val.jsonl` when it has one; else 1 in 5 training rows by a salted hash of
     the text. SST-2's training rows are phrases of sentences: rows go with the longest row containing them
     (the same rule as `--tune`'s folds), the validation rows are the sentences (rows no other row contains)
     of 1 in 5 such groups, so no phrase of a validation sentence is trained on.
  2. Stage A: C x tf scaling x class weights x n-gram range, every set, on the selection split; the peer's
     defaults on the same split. Stage B: the best settings of stage A x min_df x max_df.
  3. The defaults: the setting with the largest worst-case macro-F1 gain over the peer across the sets
     (ties: larger mean gain), among those that train on any valid upload (min_df 1, max_df 1; see
     `eligible`).
  4. Test: every set's full training rows -> its test rows, once each for the peer, the old defaults, the new
     defaults and `--tune` (starting from the new defaults). Plus SST-2 whole-process training time, old vs new
     defaults, median of 3.
"""
import argparse, hashlib, json, os, statistics, subprocess, sys, tempfile, time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "peers"))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
POLARITY = os.path.join(ROOT, "target", "release", "polarity")
OUT = os.path.join(ROOT, "bench", "out")
CACHE = os.path.join(OUT, "defaults_cache.json")

# The defaults before this study (C 1, raw tf, no class weights, 1-2 grams, min_df 1, max_df 1).
OLD = dict(c=1.0, sublinear=False, cw="none", ngram="1,2", min_df=1, max_df=1.0)
STAGE_A = [dict(c=c, sublinear=s, cw=w, ngram=n, min_df=1, max_df=1.0)
           for n in ("1,1", "1,2", "1,3") for s in (False, True) for w in ("none", "balanced")
           for c in (0.5, 1.0, 2.0, 4.0, 8.0)]
STAGE_B_TOP = 4
SE_MULTIPLES = (1.0, 2.0, 3.0)
MIN_DF = (1, 2, 3)
MAX_DF = (1.0, 0.7, 0.4)


def eligible(s):
    """A default must train on any valid upload: min_df > 1 or max_df < 1 can leave a small upload (tens of
    rows, every word once, or a word in half of them) with no terms at all, so they stay options."""
    return s["min_df"] == 1 and s["max_df"] == 1.0


def key(s):
    return f"C{s['c']:g} {'sub' if s['sublinear'] else 'raw'} {s['cw']} ng{s['ngram']} min{s['min_df']} max{s['max_df']:g}"


def flags(s):
    f = ["--c", str(s["c"]), "--class-weight", s["cw"], "--ngram", s["ngram"], "--min-df", str(s["min_df"]),
         "--max-df", str(s["max_df"])]
    return f + ["--sublinear-tf", "true" if s["sublinear"] else "false"]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [(r["text"], str(r["label"])) for r in map(json.loads, f) if r["text"].strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for t, y in rows:
            f.write(json.dumps({"text": t, "label": y}) + "\n")


def h(text, salt):
    return int(hashlib.sha1((salt + text).encode()).hexdigest(), 16)


def containers(texts):
    """Index of the longest text containing each text as whole words (itself when none does)."""
    words = [t.split() for t in texts]
    df = Counter(w for ws in words for w in set(ws))
    post = defaultdict(list)
    for i, ws in enumerate(words):
        for w in set(ws):
            post[w].append(i)
    out = []
    for i, ws in enumerate(words):
        if not ws:
            out.append(i)
            continue
        rare = min(set(ws), key=lambda w: (df[w], w))
        pad, best = f" {texts[i]} ", i
        for j in post[rare]:
            if len(texts[j]) > len(texts[best]) and pad in f" {texts[j]} ":
                best = j
        out.append(best)
    return out


def load_sets(data, names):
    sets = {}
    for name in names:
        if name == "sst2":
            import common
            xtr, ytr = common.read_table(os.path.join(SHARED, "data", "sst2", "train.tsv"), "sentence", "label")
            xte, yte = common.read_table(os.path.join(SHARED, "data", "sst2", "dev.tsv"), "content", "label")
            lab = {0: "negative", 1: "positive"}
            train = [(t, lab[int(y)]) for t, y in zip(xtr, ytr)]
            test = [(t, lab[int(y)]) for t, y in zip(xte, yte)]
            val = None
        else:
            d = os.path.join(data, name)
            train, test = read_jsonl(os.path.join(d, "train.jsonl")), read_jsonl(os.path.join(d, "test.jsonl"))
            val = read_jsonl(os.path.join(d, "val.jsonl")) if os.path.exists(os.path.join(d, "val.jsonl")) else None
        own_val = val is not None
        if own_val:
            fit, how = train, "the set's own validation split"
        elif name == "sst2":
            cont = containers([t for t, _ in train])
            in_val = [h(train[c][0], "val") % 5 == 0 for c in cont]
            fit = [r for r, v in zip(train, in_val) if not v]
            val = [r for i, (r, v) in enumerate(zip(train, in_val)) if v and cont[i] == i]
            how = "1 in 5 sentence groups of train (sentences only)"
        else:
            fit = [r for r in train if h(r[0], "val") % 5 != 0]
            val = [r for r in train if h(r[0], "val") % 5 == 0]
            how = "1 in 5 training rows by hash"
        sets[name] = dict(train=train, test=test, fit=fit, val=val, how=how,
                          full_train=train + (val if own_val else []))
    return sets


class Cache:
    def __init__(self):
        self.d = json.load(open(CACHE)) if os.path.exists(CACHE) else {}

    def get(self, k, fn):
        if k not in self.d:
            self.d[k] = fn()
            os.makedirs(OUT, exist_ok=True)
            json.dump(self.d, open(CACHE + ".tmp", "w"))
            os.replace(CACHE + ".tmp", CACHE)
        return self.d[k]


def run_polarity(train_path, test_path, extra, binary=POLARITY):
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        p = subprocess.run([binary, "train", "--data", train_path, "--test", test_path, "--out",
                            os.path.join(tmp, "m.polarity"), "--json"] + extra, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"polarity train failed: {' '.join(extra)}\n{p.stderr[-2000:]}")
    r = json.loads(p.stdout)
    out = dict(f1=r["macro_f1"], acc=r["accuracy"], n_test=r["n_test"], wall=wall)
    if r.get("tuning"):
        t, b = r["tuning"], r["tuning"].get("baseline") or {}
        out["tuned"] = {k: t[k] for k in ("c", "sublinear_tf", "class_weight")}
        out["scores"] = [dict(c=x["c"], sublinear=x["sublinear_tf"], cw=x.get("class_weight", "none"),
                              per_fold=x["per_fold"]) for x in t["scores"]]
        out["baseline"] = dict(c=b.get("c"), sublinear=b.get("sublinear_tf"), cw=b.get("class_weight", "none"))
        out["tuned"]["kept_baseline"] = all(t[k] == b.get(k) for k in ("c", "sublinear_tf", "class_weight"))
    return out


def run_peer(train, test):
    import common
    from sklearn.metrics import accuracy_score, f1_score
    vec, clf = common.make_vectorizer(), common.make_model()
    clf.fit(vec.fit_transform([t for t, _ in train]), [y for _, y in train])
    pred = clf.predict(vec.transform([t for t, _ in test]))
    gold = [y for _, y in test]
    return dict(f1=f1_score(gold, pred, average="macro"), acc=accuracy_score(gold, pred), n_test=len(test))


def choose(scores, base, z):
    """tune.rs's rule with z standard errors: the setting whose paired fold gains over the baseline have the
    largest mean above z standard errors (ties: the simplest); else the baseline."""
    b = next(x for x in scores if (x["c"], x["sublinear"], x["cw"]) == (base["c"], base["sublinear"], base["cw"]))
    best = None
    for x in scores:
        d = [a - c for a, c in zip(x["per_fold"], b["per_fold"])]
        if len(d) < 2:
            continue
        m = statistics.mean(d)
        se = statistics.stdev(d) / len(d) ** 0.5
        simple = (-x["c"], not x["sublinear"], x["cw"] == "none")
        if m - z * se > 0 and (best is None or (m, simple) > best[0]):
            best = ((m, simple), x)
    return best[1] if best else b


def describe(name, s):
    rows = s["train"] + s["test"]
    labels = Counter(y for _, y in s["full_train"])
    n = sum(labels.values())
    bal = "/".join(f"{100 * labels[k] / n:.0f}" for k in sorted(labels))
    words = statistics.mean(len(t.split()) for t, _ in rows)
    return (f"| {name} | {len(labels)} ({', '.join(sorted(labels))}) | {len(s['full_train']):,} | {len(s['fit']):,} / "
            f"{len(s['val']):,} | {len(s['test']):,} | {bal} | {words:.0f} | {s['how']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/datasets")
    ap.add_argument("--sets", default="sst2,airline,tweeteval,uci,rt,sst5,imdb,reviews5")
    ap.add_argument("--runs", type=int, default=7, help="SST-2 timing runs (interleaved)")
    ap.add_argument("--baseline-binary", help="a `polarity` built from the code before the new defaults: its own "
                    "defaults are timed as well (the budget is against it)")
    ap.add_argument("--select-only", action="store_true", help="stop before the test splits (print the choices)")
    a = ap.parse_args()
    names = [n for n in a.sets.split(",") if n == "sst2" or os.path.isdir(os.path.join(a.data, n))]
    sets = load_sets(a.data, names)
    cache = Cache()
    version = subprocess.run([POLARITY, "--version"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for n, s in sets.items():
            for part in ("fit", "val", "full_train", "test"):
                paths[n, part] = os.path.join(tmp, f"{n}-{part}.jsonl")
                write_jsonl(paths[n, part], s[part])

        def val_score(n, st):
            return cache.get(f"val|{n}|{key(st)}", lambda: run_polarity(paths[n, "fit"], paths[n, "val"], flags(st)))

        peer_val = {n: cache.get(f"val|{n}|peer", lambda n=n: run_peer(sets[n]["fit"], sets[n]["val"])) for n in sets}
        for i, st in enumerate(STAGE_A):
            for n in sets:
                val_score(n, st)
            print(f"stage A {i + 1}/{len(STAGE_A)} {key(st)}", file=sys.stderr, flush=True)

        def gains(st):
            return {n: val_score(n, st)["f1"] - peer_val[n]["f1"] for n in sets}

        def rank(st):
            g = gains(st)
            return (min(g.values()), statistics.mean(g.values()))

        top_a = sorted(STAGE_A, key=rank, reverse=True)[:STAGE_B_TOP]
        stage_b = [dict(t, min_df=m, max_df=x) for t in top_a for m in MIN_DF for x in MAX_DF
                   if (m, x) != (1, 1.0)]
        for i, st in enumerate(stage_b):
            for n in sets:
                val_score(n, st)
            print(f"stage B {i + 1}/{len(stage_b)} {key(st)}", file=sys.stderr, flush=True)
        grid = STAGE_A + stage_b
        ranked = sorted(grid, key=rank, reverse=True)
        new = next(st for st in ranked if eligible(st))
        print("chosen:", key(new), rank(new), file=sys.stderr)

        # --tune's rule, judged on the selection split: tune on fit, score the setting each rule takes on val
        rules = {}
        for n in sets:
            tv = cache.get(f"val|{n}|{key(new)}|tune", lambda n=n: run_polarity(paths[n, "fit"], paths[n, "val"], flags(new) + ["--tune"]))
            for z in SE_MULTIPLES:
                ch = choose(tv["scores"], tv["baseline"], z)
                st = dict(new, c=ch["c"], sublinear=ch["sublinear"], cw=ch["cw"])
                rules[n, z] = (st, val_score(n, st)["f1"] - val_score(n, new)["f1"])
            print(f"tune rule {n}", file=sys.stderr, flush=True)
        if a.select_only:
            for z in SE_MULTIPLES:
                g = {n: round(100 * rules[n, z][1], 2) for n in sets}
                print(f"z {z}: {g} worst {min(g.values())} mean {statistics.mean(g.values()):.2f}")
            return

        # the test splits, once each
        test = {}
        for n in sets:
            test[n] = dict(
                peer=cache.get(f"test|{n}|peer", lambda n=n: run_peer(sets[n]["full_train"], sets[n]["test"])),
                old=cache.get(f"test|{n}|{key(OLD)}", lambda n=n: run_polarity(paths[n, "full_train"], paths[n, "test"], flags(OLD))),
                new=cache.get(f"test|{n}|{key(new)}", lambda n=n: run_polarity(paths[n, "full_train"], paths[n, "test"], flags(new))),
                tune=cache.get(f"test|{n}|{key(new)}|tune", lambda n=n: run_polarity(paths[n, "full_train"], paths[n, "test"], flags(new) + ["--tune"])),
            )
            print(f"test {n}", file=sys.stderr, flush=True)

        sst2_train = os.path.join(SHARED, "data", "sst2", "train.tsv")
        sst2_dev = os.path.join(SHARED, "data", "sst2", "dev.tsv")
        times = {}
        if "sst2" in sets:
            runs = [("old defaults, this binary", POLARITY, flags(OLD)), ("new defaults, this binary", POLARITY, flags(new))]
            if a.baseline_binary:
                runs.insert(0, ("old defaults, code before (its defaults, no flags)", a.baseline_binary, []))
            for label, _, _ in runs:
                times[label] = []
            for _ in range(a.runs):
                for label, binary, f in runs:
                    times[label].append(run_polarity(sst2_train, sst2_dev, f, binary)["wall"])

    write_report(a, sets, peer_val, ranked, new, gains, rank, test, times, version, rules)


NOTES = """## How often the test splits were read

Each column of the test table is one fit scored once. Before this table, while the study was built: a 2-set
trial run (SST-2, tweeteval) scored their test splits with its own 2-set choice, and a first 8-set run (with
the optimizer before its preconditioner) scored every test split for the peer, the old and the same new
defaults and `--tune`, and airline's once for a max_df 0.4 candidate that the `eligible` rule (added then:
a default must train on any upload) ruled out; that figure was discarded unread. SST-2's dev set, its test
split here, was also read in earlier work on the tokeniser and `--tune`. No setting was chosen on a test
figure: the defaults and the tuning rule come from the selection splits above.
"""


def write_report(a, sets, peer_val, ranked, new, gains, rank, test, times, version, rules):
    names = list(sets)
    L = ["# Training defaults: a grid against the scikit-learn peer on public sets", "",
         f"`{' '.join(['python', 'bench/defaults_study.py', '--sets', a.sets])}` with {version}; the peer is "
         "`../shared/peers/common.py` (TfidfVectorizer(max_features=20000, ngram_range=(1, 2)) + "
         "LogisticRegression(C=1, lbfgs)). Sources and splits: `bench/results/defaults-sets.md`.", "",
         "## The sets", "",
         "| set | classes | train rows | selection fit / validation | test rows | train balance % | mean words | validation |",
         "|---|---|---:|---:|---:|---|---:|---|"]
    L += [describe(n, sets[n]) for n in names]
    L += ["", "## Selection (validation rows only; gain = macro-F1 points over the peer on the same rows)", "",
          f"{len(ranked)} settings (stage A: C x tf x class weight x n-grams = {len(STAGE_A)}; stage B: the best "
          f"{STAGE_B_TOP} x min_df {MIN_DF} x max_df {MAX_DF}). Ranked by the worst set's gain, then the mean. "
          "\"Option only\": min_df > 1 or max_df < 1, which can leave a small upload with no terms, so not a "
          "default (`eligible`).", "",
          "| setting | worst gain | mean gain | " + " | ".join(names) + " |",
          "|---|---:|---:|" + "---:|" * len(names)]

    def row(st, mark=""):
        g = gains(st)
        w, m = rank(st)
        return f"| {mark}{key(st)} | {100 * w:+.2f} | {100 * m:+.2f} | " + " | ".join(f"{100 * g[n]:+.2f}" for n in names) + " |"

    L += [row(st, ("**new** " if st is new else "") + ("" if eligible(st) else "(option only) ")) for st in ranked[:12]]
    L.append(row(OLD, "old defaults: "))
    L.append("| peer macro-F1 on validation | | | " + " | ".join(f"{peer_val[n]['f1']:.4f}" for n in names) + " |")
    L += ["", "## `--tune`'s rule, on the selection split", "",
          "`--tune` run on each set's selection training rows (its 5-fold scores of every setting), then the setting "
          "each rule would take scored on the validation rows; the rule: a setting replaces the defaults when its "
          "paired fold gains have a mean above z standard errors (`--tune` uses z = 1). Points of validation "
          "macro-F1 over the new defaults:", "",
          "| z | " + " | ".join(names) + " | worst | mean | sets where tuning left the defaults |", "|---|" + "---:|" * (len(names) + 3)]
    for z in SE_MULTIPLES:
        g = [100 * rules[n, z][1] for n in names]
        changed = sum(key(rules[n, z][0]) != key(new) for n in names)
        L.append(f"| {z:g} | " + " | ".join(f"{x:+.2f}" for x in g) + f" | {min(g):+.2f} | {statistics.mean(g):+.2f} | {changed} |")
    L += ["", "## Test (each set's test split, scored once per column)", "",
          f"New defaults: **{key(new)}**. `--tune` starts from them (its grid: C 0.25-8 x tf x class weight).", "",
          "| set | test rows | peer F1 / acc | old defaults F1 / acc | new defaults F1 / acc | --tune F1 / acc | tune chose | new - peer | tune - new |",
          "|---|---:|---|---|---|---|---|---:|---:|"]
    for n in names:
        t = test[n]
        tu = t["tune"].get("tuned") or {}
        chose = "kept defaults" if tu.get("kept_baseline") else f"C {tu.get('c')}, {'sub' if tu.get('sublinear_tf') else 'raw'}, {tu.get('class_weight')}"
        L.append(f"| {n} | {t['peer']['n_test']:,} | " + " | ".join(f"{t[k]['f1']:.4f} / {t[k]['acc']:.4f}" for k in ("peer", "old", "new", "tune"))
                 + f" | {chose} | {100 * (t['new']['f1'] - t['peer']['f1']):+.2f} | {100 * (t['tune']['f1'] - t['new']['f1']):+.2f} |")
    d = {k: [test[n]["new"]["f1"] - test[n][k]["f1"] for n in names] for k in ("peer", "old")}
    L += ["", f"New defaults over the peer on test: worst {100 * min(d['peer']):+.2f}, mean {100 * statistics.mean(d['peer']):+.2f} points; "
          f"over the old defaults: worst {100 * min(d['old']):+.2f}, mean {100 * statistics.mean(d['old']):+.2f}."]
    if times:
        L += ["", "## SST-2 training time (whole process, `polarity train` with --test dev)", "",
              "| defaults | median s | runs |", "|---|---:|---|"]
        for k, v in times.items():
            L.append(f"| {k} | {statistics.median(v):.3f} | {', '.join(f'{x:.3f}' for x in sorted(v))} |")
        L.append("")
        base = next(iter(times))
        new_t = statistics.median(times["new defaults, this binary"])
        L.append(f"New defaults / {base}: {new_t / statistics.median(times[base]):.2f}x (budget: 1.20x); the runs "
                 "of each row are interleaved with the others'.")
    L += ["", NOTES]
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "defaults.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L))


if __name__ == "__main__":
    main()
