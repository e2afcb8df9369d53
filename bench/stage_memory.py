#!/usr/bin/env python3
"""Peak memory of each pipeline stage against the upload's size: what one ingest, process or validate function holds.

What it does: for each N in --rows, writes an N-row upload (bench/make_scale_data.py: SST-2 sentences, later
copies word-shuffled), runs `polarity pipeline run UPLOAD --home DIR` (release, embedded) on a fresh DIR and
samples the process's resident memory (/proc/PID/status VmRSS) every 10 ms. Every stage prints its line
when it ends, so each sample belongs to the first stage whose line has not arrived yet; a stage's peak is
the largest sample in its window (the memory the process holds then, including what earlier stages left to
the allocator, so an upper bound). The embedded run's stages are the Lambda handlers, so the figures size
the functions. Prints a markdown table and writes it to bench/results/stage-memory.md.

Usage (from the repo root, after cargo build --release -p polarity-cli):
  python3 bench/stage_memory.py [--rows 1000000 10000000]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("ingest", "process", "train", "validate")
STAGE_LINE = re.compile(r"^\[(ingest|process|train|validate)\s*\]")


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run(cli, upload, home):
    p = subprocess.Popen([cli, "pipeline", "run", upload, "--home", home], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True,
                         env={k: v for k, v in os.environ.items() if not k.startswith("POLARITY_")})
    current = [0]  # index into STAGES of the stage running now
    peaks = [0] * len(STAGES)
    lines = []

    def read():
        for line in p.stdout:
            lines.append(line.rstrip("\n"))
            m = STAGE_LINE.match(line)
            if m:
                current[0] = max(current[0], STAGES.index(m.group(1)) + 1)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t0 = time.monotonic()
    while p.poll() is None:
        kb = rss_kb(p.pid)
        i = current[0]
        if kb is not None and i < len(STAGES):
            peaks[i] = max(peaks[i], kb)
        time.sleep(0.01)
    t.join()
    if p.returncode != 0:
        sys.exit(f"pipeline run failed:\n" + "\n".join(lines[-10:]))
    return peaks, time.monotonic() - t0, lines


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
            peaks, secs, lines = run(a.cli, upload, home)
            test_rows = next((int(m.group(1)) for l in lines for m in [re.search(r"on (\d+) rows", l)]
                              if m and l.startswith("[train")), 0)
            rows.append((n, size, peaks, secs, test_rows))
            shutil.rmtree(home, ignore_errors=True)
            os.remove(upload)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = [
        "# Peak memory per pipeline stage, by upload size",
        "",
        f"Made by `python3 bench/stage_memory.py --rows {' '.join(map(str, a.rows))}` on {time.strftime('%Y-%m-%d %H:%M')} "
        f"({os.cpu_count()} cores): the embedded `polarity pipeline run` (the same stage handlers as the Lambdas), resident "
        "memory sampled every 10 ms, each sample counted to the stage running then (an upper bound: a stage's window "
        "includes what earlier stages left with the allocator).",
        "",
        "| rows | upload (MB) | held-out rows | ingest peak (MB) | process peak (MB) | train peak (MB) | validate peak (MB) | "
        "ingest B per upload byte | process B per upload byte | validate B per held-out row | run (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, size, peaks, secs, test_rows in rows:
        mb = [k / 1024 for k in peaks]
        out.append(
            f"| {n:,} | {size / 1e6:.0f} | {test_rows:,} | {mb[0]:.0f} | {mb[1]:.0f} | {mb[2]:.0f} | {mb[3]:.0f} | "
            f"{peaks[0] * 1024 / size:.2f} | {peaks[1] * 1024 / size:.2f} | "
            f"{(peaks[3] * 1024 / test_rows) if test_rows else float('nan'):.0f} | {secs:.1f} |")
    text = "\n".join(out) + "\n"
    print(text)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
