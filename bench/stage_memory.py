#!/usr/bin/env python3
"""Peak memory of each pipeline stage against the upload's size: what one ingest, process, train or validate function holds.

What it does: for each N in --rows, writes an N-row upload (bench/make_scale_data.py: SST-2 sentences, later
copies word-shuffled) into a fresh embedded bucket's incoming/, then runs each stage handler in its own
process, in order, on the key the previous one wrote: `polarity pipeline stage ingest incoming/UPLOAD`, then
process on raw/<dataset>/manifest.json, train on processed/<dataset>/manifest.json, validate on
models/<version>/manifest.json (release, embedded; the same handlers as the Lambdas). Each stage's peak
resident memory is its process's maximum RSS (wait4's ru_maxrss), so the figures size the functions. The
upload limit is raised for the run (POLARITY_MAX_UPLOAD_BYTES=4 GiB; a 10M-row upload is ~550 MB). Prints a
markdown table and writes it to bench/results/stage-memory.md.

Usage (from the repo root, after cargo build --release -p polarity-cli):
  python3 bench/stage_memory.py [--rows 1000000 10000000]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("POLARITY_") and k != "RUST_BACKTRACE"},
       "POLARITY_MAX_UPLOAD_BYTES": str(4 << 30)}


def stage_peak(cli, name, key, home):
    t0 = time.monotonic()
    p = subprocess.Popen([cli, "pipeline", "stage", name, key, "--home", home], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV)
    def drain(f, into):
        into.append(f.read())

    outs, errs = [], []
    t1 = threading.Thread(target=drain, args=(p.stdout, outs))
    t2 = threading.Thread(target=drain, args=(p.stderr, errs))
    t1.start(); t2.start()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    t1.join(); t2.join()
    secs = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"{name} on {key} failed: {errs[0].decode()[-500:]}")
    summary = json.loads(outs[0])
    return summary["outcomes"][0], ru.ru_maxrss, secs


def run(cli, upload, home):
    name = os.path.basename(upload)
    os.makedirs(os.path.join(home, "bucket", "incoming"))
    shutil.copy(upload, os.path.join(home, "bucket", "incoming", name))
    peaks, secs = [], []
    ing, kb, s = stage_peak(cli, "ingest", f"incoming/{name}", home)
    peaks.append(kb); secs.append(s)
    ds = ing["dataset"]
    proc, kb, s = stage_peak(cli, "process", f"raw/{ds}/manifest.json", home)
    peaks.append(kb); secs.append(s)
    held_out = sum(proc["test"].values())
    tr, kb, s = stage_peak(cli, "train", f"processed/{ds}/manifest.json", home)
    peaks.append(kb); secs.append(s)
    _, kb, s = stage_peak(cli, "validate", f"models/{tr['version']}/manifest.json", home)
    peaks.append(kb); secs.append(s)
    return peaks, secs, held_out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--cli", default=os.path.join(ROOT, "target", "release", "polarity"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "stage-memory.md"))
    a = ap.parse_args()
    if not os.path.exists(a.cli):
        sys.exit(f"{a.cli} is missing: cargo build --release -p polarity-cli")
    work = tempfile.mkdtemp(prefix="polarity-stage-memory-")
    rows = []
    try:
        for n in a.rows:
            upload = os.path.join(work, f"scale-{n}.tsv")
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "make_scale_data.py"), str(n), upload], check=True)
            size = os.path.getsize(upload)
            home = os.path.join(work, f"home-{n}")
            peaks, secs, test_rows = run(a.cli, upload, home)
            rows.append((n, size, peaks, secs, test_rows))
            shutil.rmtree(home, ignore_errors=True)
            os.remove(upload)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = [
        "# Peak memory per pipeline stage, by upload size",
        "",
        f"Made by `python3 bench/stage_memory.py --rows {' '.join(map(str, a.rows))}` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({os.cpu_count()} cores): each stage handler (the Lambdas' code) in its own process, `polarity pipeline stage "
        "STAGE KEY` on an embedded bucket; peak = the process's maximum resident memory. Held-out rows = the process "
        "manifest's test split (after de-duplication).",
        "",
        "| rows | upload (MB) | held-out rows | ingest peak (MB) | process peak (MB) | train peak (MB) | validate peak (MB) | "
        "ingest B per upload byte | process B per upload byte | train B per upload row | validate B per held-out row | "
        "stage seconds (ingest / process / train / validate) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, size, peaks, secs, test_rows in rows:
        mb = [k / 1024 for k in peaks]
        out.append(
            f"| {n:,} | {size / 1e6:.0f} | {test_rows:,} | {mb[0]:.0f} | {mb[1]:.0f} | {mb[2]:.0f} | {mb[3]:.0f} | "
            f"{peaks[0] * 1024 / size:.2f} | {peaks[1] * 1024 / size:.2f} | {peaks[2] * 1024 / n:.0f} | "
            f"{(peaks[3] * 1024 / test_rows) if test_rows else float('nan'):.0f} | "
            f"{' / '.join(f'{x:.1f}' for x in secs)} |")
    text = "\n".join(out) + "\n"
    print(text)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
