"""Polarity vs the Python peer (scikit-learn), same data, same run: training on SST-2, training at scale,
batch prediction. Prints a table with ratios and writes it to bench/results/train.md.

Usage (from the repo root; the peer's venv comes from ../shared/peers/setup.sh):
    cargo build --release -p polarity-cli && cargo build --release -p polarity-core --example batch_predict
    python3 bench/compare.py [--runs 3] [--scale 2000000] [--skip-scale] [--predict-texts 1000000] [--big 10000000]

Every figure is whole-process wall-clock time and peak RSS from /usr/bin/time -v, except where a row says
"in-process" (the peer's own in-process timers, which leave out Python start-up and imports).
"""
import argparse, json, os, platform, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
PEERS = os.path.join(SHARED, "peers")
SST2 = os.path.join(SHARED, "data", "sst2")
PY = os.environ.get("PEER_PY", "/tmp/peervenv/bin/python")
POLARITY = os.path.join(ROOT, "target", "release", "polarity")
BATCH = os.path.join(ROOT, "target", "release", "examples", "batch_predict")
OUT = os.path.join(ROOT, "bench", "out")


def timed(cmd, cwd=None, stdin=None, stdout=subprocess.PIPE):
    """Runs cmd under /usr/bin/time -v; returns (stdout text, wall s, peak RSS MB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name] + cmd, cwd=cwd, stdin=stdin, stdout=stdout,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            sys.exit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", tf.read()).group(1)) / 1024
    return (p.stdout if stdout == subprocess.PIPE else ""), wall, rss


def result_line(text, tag):
    return json.loads(next(l for l in text.splitlines() if l.startswith(tag + " "))[len(tag) + 1:])


def median_runs(n, fn):
    runs = [fn() for _ in range(n)]
    runs.sort(key=lambda r: r["wall"])
    return runs[len(runs) // 2]


def sst2(runs):
    model = os.path.join(OUT, "sst2.plm")

    def ours():
        out, wall, rss = timed([POLARITY, "train", "--data", f"{SST2}/train.tsv", "--test", f"{SST2}/dev.tsv", "--out", model, "--json"])
        r = json.loads(out)
        return dict(wall=wall, rss=rss, acc=r["accuracy"], f1=r["macro_f1"], fit=r["timings"]["fit_s"], vec=r["timings"]["vectorize_s"])

    def peer():
        out, wall, rss = timed([PY, "train_eval.py", "sst2", "--save", "/tmp/peer_artifacts/sst2_model.joblib"], cwd=PEERS)
        r = result_line(out, "RESULT")
        return dict(wall=wall, rss=rss, acc=r["accuracy"], f1=r["macro_f1"], fit=r["model_fit_s"], vec=r["vec_fit_s"], inproc=r["train_total_s"])

    return median_runs(runs, ours), median_runs(runs, peer), model


def scale(n):
    data = os.path.join(OUT, f"scale_{n}.tsv")
    if not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_scale_data.py"), str(n), data], check=True)
    out, wall, rss = timed([POLARITY, "train", "--data", data, "--test", f"{SST2}/dev.tsv", "--out", os.path.join(OUT, f"scale_{n}.plm"), "--json"])
    r = json.loads(out)
    ours = dict(wall=wall, rss=rss, acc=r["accuracy"], fit=r["timings"]["fit_s"], vec=r["timings"]["vectorize_s"], read=r["timings"]["read_s"])
    out, wall, rss = timed([PY, "scale_test.py", str(n)], cwd=PEERS)
    r = result_line(out, "RESULT")
    peer = dict(wall=wall, rss=rss, acc=r["dev_acc"], inproc=r["train_total_s"], gen=r["gen_s"])
    return ours, peer


def big(n):
    """Polarity alone on n generated rows: streamed (`--streaming auto` reads large files in passes) and held."""
    data = os.path.join(OUT, f"scale_{n}.tsv")
    if not os.path.exists(data):
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_scale_data.py"), str(n), data], check=True)
    out = {}
    for mode in ["auto", "off"]:
        model = os.path.join(OUT, f"big_{mode}.plm")
        _, wall, rss = timed([POLARITY, "train", "--data", data, "--test", f"{SST2}/dev.tsv", "--out", model, "--json",
                              "--streaming", mode])
        with open(model, "rb") as f:
            out[mode] = dict(wall=wall, rss=rss, model=f.read())
        os.remove(model)
    if out["auto"]["model"] != out["off"]["model"]:
        sys.exit("streamed and held training gave different models")
    return out


def predict(model, n_texts):
    texts = os.path.join(OUT, f"predict_{n_texts}.txt")
    if not os.path.exists(texts):
        dev = [l.rstrip("\n").split("\t", 1)[1] for l in open(f"{SST2}/dev.tsv", encoding="utf-8")][1:]
        with open(texts, "w", encoding="utf-8") as f:
            for i in range(n_texts):
                f.write(dev[i % len(dev)] + "\n")
    with open(texts, "rb") as inp:
        _, wall, rss = timed([POLARITY, "predict", "--model", model], stdin=inp, stdout=subprocess.DEVNULL)
    load = []
    for _ in range(7):
        _, w, _ = timed([POLARITY, "predict", "--model", model, "one text"])
        load.append(w)
    inproc, _, _ = timed([BATCH, model, texts])
    inproc = result_line(inproc, "BATCH")
    out, pwall, _ = timed([PY, "bench_inference.py"], cwd=PEERS)
    b, a = result_line(out, "BATCH"), result_line(out, "ARTIFACT")
    return dict(tps=n_texts / wall, wall=wall, rss=rss, start_predict=statistics.median(load), size=os.path.getsize(model),
                inproc_tps=inproc["preds_per_s"], load_s=inproc["load_s"]), \
        dict(tps=b["preds_per_s"], load=a["load_s_median"], imp=a["import_s_median"], size=a["size_bytes"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=int, default=2_000_000)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--predict-texts", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=0, help="also train on this many generated rows, streamed and held (10000000: ~1.5 min, 555 MB of data)")
    a = ap.parse_args()
    if not (os.path.exists(POLARITY) and os.path.exists(BATCH)):
        sys.exit("build first: cargo build --release -p polarity-cli && cargo build --release -p polarity-core --example batch_predict")
    if not os.path.exists(PY):
        sys.exit(f"peer venv missing ({PY}): bash ../shared/peers/setup.sh")
    os.makedirs(OUT, exist_ok=True)
    rows = []
    o, p, model = sst2(a.runs)
    rows.append(("SST-2 dev accuracy (default settings)", f"{p['acc']:.4f}", f"{o['acc']:.4f}", f"{o['acc'] - p['acc']:+.4f}"))
    rows.append(("SST-2 dev macro-F1", f"{p['f1']:.4f}", f"{o['f1']:.4f}", f"{o['f1'] - p['f1']:+.4f}"))
    rows.append(("SST-2 train, whole process (s)", f"{p['wall']:.2f}", f"{o['wall']:.3f}", f"{p['wall'] / o['wall']:.1f}x faster"))
    rows.append(("SST-2 vectorize + fit, in-process (s)", f"{p['inproc']:.2f}", f"{o['vec'] + o['fit']:.3f}", f"{p['inproc'] / (o['vec'] + o['fit']):.1f}x faster"))
    rows.append(("SST-2 train, peak RSS (MB)", f"{p['rss']:.0f}", f"{o['rss']:.0f}", f"{o['rss'] / p['rss']:.2f}x"))
    if not a.skip_scale:
        o2, p2 = scale(a.scale)
        n = f"{a.scale / 1e6:g}M"
        rows.append((f"{n} rows: peer vectorize+fit in-process vs Polarity whole process (s)", f"{p2['inproc']:.1f}", f"{o2['wall']:.2f}", f"{p2['inproc'] / o2['wall']:.1f}x faster"))
        rows.append((f"{n} rows: whole process (s; peer includes {p2['gen']:.0f} s data generation)", f"{p2['wall']:.1f}", f"{o2['wall']:.2f}", f"{(p2['wall'] - p2['gen']) / o2['wall']:.1f}x faster (peer less generation)"))
        rows.append((f"{n} rows: peak RSS (MB)", f"{p2['rss']:.0f}", f"{o2['rss']:.0f}", f"{o2['rss'] / p2['rss']:.2f}x"))
        rows.append((f"{n} rows: SST-2 dev accuracy", f"{p2['acc']:.4f}", f"{o2['acc']:.4f}", f"{o2['acc'] - p2['acc']:+.4f}"))
    if a.big:
        b = big(a.big)
        n = f"{a.big / 1e6:g}M"
        for mode, what in [("auto", "read in passes (`--streaming auto`)"), ("off", "held (`--streaming off`)")]:
            rows.append((f"{n} rows, {what}: peak RSS, bytes per input row; whole process (s)", "",
                         f"{b[mode]['rss'] * 2**20 / a.big:.0f} B/row; {b[mode]['wall']:.1f} s", "same model bytes" if mode == "auto" else ""))
    o3, p3 = predict(model, a.predict_texts)
    rows.append((f"batch prediction, in-process texts/s (peer: transform + predict of 100k; Polarity: `examples/batch_predict`, {a.predict_texts:,} texts, all cores)", f"{p3['tps']:,.0f}", f"{o3['inproc_tps']:,.0f}", f"{o3['inproc_tps'] / p3['tps']:.1f}x"))
    rows.append((f"batch prediction, Polarity `predict` CLI whole process ({a.predict_texts:,} lines stdin → JSON lines stdout) vs peer in-process, texts/s", f"{p3['tps']:,.0f}", f"{o3['tps']:,.0f}", f"{o3['tps'] / p3['tps']:.1f}x"))
    rows.append(("model load in-process (s)", f"{p3['load']:.3f} (+{p3['imp']:.2f} imports)", f"{o3['load_s']:.4f}", f"{(p3['load'] + p3['imp']) / o3['load_s']:.0f}x faster"))
    rows.append(("process start + load + 1 prediction, Polarity `predict` (s)", "", f"{o3['start_predict']:.4f}", ""))
    rows.append(("artifact size (bytes)", f"{p3['size']:,}", f"{o3['size']:,}", f"{o3['size'] / p3['size']:.2f}x"))
    env = f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}, median of {a.runs} runs for SST-2"
    lines = [f"Measured by `python3 bench/compare.py` ({env}).", "", "| figure | peer (scikit-learn) | Polarity | ratio |", "|---|---|---|---|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "train.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
