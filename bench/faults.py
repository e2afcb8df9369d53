#!/usr/bin/env python3
"""Crash-recovery test of the embedded pipeline: SIGKILL `polarity pipeline run` in every stage, re-run, check.

What it does:
  1. Builds an upload CSV (header text,label) of --rows rows from SST-2 train.tsv: copy 0 is the original
     rows, every later copy the same sentences with " #<row number>" appended, so all rows are distinct.
  2. Runs `polarity pipeline run upload.csv --home DIR` once uninterrupted on a fresh DIR and timestamps each
     output line as it arrives: every stage line ends with "(N.NN s)", which gives each stage's window
     (ingest's window includes the upload of the file to incoming/ before it).
  3. Spreads --trials kill points over the four stages (round robin ingest, process, train, validate; inside
     each stage's window at evenly spaced fractions). A kill point is "the line that ends the previous stage
     was printed, plus X seconds", so it lands in its stage even when run times vary.
  4. Per trial, on a fresh --home: starts the run, SIGKILLs it at its kill point, notes which stage was
     running (from the killed run's partial output) and how many temp files it left in DIR/bucket/.tmp;
     then re-runs the same command to completion and checks that it recovered:
       * exit status 0, and its final `production:` line names a version;
       * `polarity registry list --home DIR --json` has exactly one version with status production;
       * `polarity registry history --home DIR --json` has exactly one entry (promoted once);
       * no temp files are left under DIR/bucket/.tmp.
  5. Then --tmp-trials more (one per stage in turn) that SIGKILL the run the moment a temp file shows in
     DIR/bucket/.tmp after the stage's anchor line, so a dead writer's temp file is left for the re-run to
     clean (the timed kills rarely hit a write in flight). Small writes live in .tmp for microseconds, so
     such a run may end before one is seen: it is then tried again on a fresh DIR, up to 3 runs.
  6. Then --lock-trials more (train, validate in turn) that SIGKILL the run the moment the file registry's
     lock file DIR/registry.json.lock exists (a registry update in flight), tried again on a fresh DIR (up
     to 5 runs) until the kill leaves the lock file behind.
The re-run is expected to report the stages that had finished as "already" done and to run the rest.

Prints a markdown table and writes it to bench/results/faults.md. Exits 1 if any trial did not recover.
Python standard library only.

Usage (from the repo root, after cargo build --release -p polarity-cli):
  python3 bench/faults.py [--rows 500000] [--trials 13]
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ("ingest", "process", "train", "validate")
STAGE_LINE = re.compile(r"^\[(ingest|process|train|validate)\s*\] (.*) \((\d+\.\d+) s\)$")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--polarity", default=os.path.join(ROOT, "target", "release", "polarity"),
                    help="polarity CLI binary (default: %(default)s)")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "sst2")),
                    help="folder with SST-2 train.tsv (default: %(default)s)")
    ap.add_argument("--rows", type=int, default=500_000, help="rows in the upload (default: %(default)s)")
    ap.add_argument("--trials", type=int, default=13, help="kill trials, spread over the 4 stages (default: %(default)s)")
    ap.add_argument("--tmp-trials", type=int, default=4,
                    help="extra trials that SIGKILL as soon as a temp file appears in bucket/.tmp, one per stage "
                         "in turn, so the clean-up of dead writers' temp files is exercised (default: %(default)s)")
    ap.add_argument("--lock-trials", type=int, default=2,
                    help="extra trials that SIGKILL while the file registry's lock (DIR/registry.json.lock) is held, "
                         "in train and validate in turn (default: %(default)s)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "faults.md"),
                    help="markdown file to write (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (upload, homes, logs)")
    a = ap.parse_args()
    if a.trials < 1 or a.rows < 1 or a.tmp_trials < 0 or a.lock_trials < 0:
        ap.error("--trials and --rows must be at least 1, --tmp-trials and --lock-trials at least 0")
    return a


def clean_env():
    """The environment without POLARITY_* variables, so no stray setting changes the runs."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POLARITY_")}


def build_upload(data, rows, path):
    with open(os.path.join(data, "train.tsv"), encoding="utf-8") as f:
        next(f)
        src = [l.rstrip("\n").split("\t", 1) for l in f if "\t" in l]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(rows):
            label, text = src[i % len(src)]
            w.writerow([text if i < len(src) else f"{text} #{i}", label])


def tmp_files(home):
    d = os.path.join(home, "bucket", ".tmp")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


LIVE = []  # every process started, so an interrupted test leaves none behind


class Run:
    """One `polarity pipeline run`, its output lines timestamped (seconds since spawn) as they arrive."""

    def __init__(self, cli, upload, home, log):
        self.lines = []
        self.seen = {}  # "store" or a stage name -> threading.Event, set when that line arrives
        for k in ("store",) + STAGES:
            self.seen[k] = threading.Event()
        self.t0 = time.monotonic()
        self.stderr = open(log, "w")
        self.proc = subprocess.Popen([cli, "pipeline", "run", upload, "--home", home], stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, env=clean_env())
        LIVE.append(self.proc)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic() - self.t0
            line = line.rstrip("\n")
            self.lines.append((t, line))
            if line.startswith("store "):
                self.seen["store"].set()
            m = STAGE_LINE.match(line)
            if m:
                self.seen[m.group(1)].set()

    def wait(self, timeout=None):
        rc = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=10)
        self.stderr.close()
        return rc

    def stage_lines(self):
        out = []
        for t, line in list(self.lines):
            m = STAGE_LINE.match(line)
            if m:
                out.append((t, m.group(1), m.group(2), float(m.group(3))))
        return out


def kill_point(r):
    if r["mode"] == "time":
        return "%.2f of window" % r["frac"]
    return r["mode"] + (" (%d runs)" % r["attempts"] if r["attempts"] > 1 else "")


def left(r):
    """What the killed run left behind, for the table."""
    parts = [f"{r['tmp_by_kill']} .tmp"] + (["registry.json.lock"] if r["lock_left"] else [])
    return ", ".join(parts)


def registry_lock(home):
    return os.path.join(home, "registry.json.lock")


def registry_json(cli, home, what):
    p = subprocess.run([cli, "registry", what, "--home", home, "--json"], capture_output=True, text=True, env=clean_env())
    if p.returncode != 0:
        return None, p.stderr.strip()[-300:]
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, f"not JSON: {e}"


def check(cli, home, run, rc):
    """(recovered, facts) for a finished run."""
    problems = []
    if rc != 0:
        problems.append(f"exit status {rc}")
    prod_line = next((l for _, l in reversed(run.lines) if l.startswith("production:")), None)
    m = re.match(r"production: (\S+) \(", prod_line or "")
    version = m.group(1) if m else None
    if not version:
        problems.append(f"final production line: {prod_line!r}")
    listing, err = registry_json(cli, home, "list")
    prods = [v for v in (listing or []) if v.get("status") == "production"]
    if err:
        problems.append(f"registry list: {err}")
    elif len(prods) != 1:
        problems.append(f"{len(prods)} production versions")
    elif version and prods[0].get("version") != version:
        problems.append(f"registry production {prods[0].get('version')} != printed {version}")
    history, err = registry_json(cli, home, "history")
    if err:
        problems.append(f"registry history: {err}")
    elif len(history) != 1:
        problems.append(f"history has {len(history)} entries")
    left = tmp_files(home)
    if left:
        problems.append(f"{len(left)} temp files left: {left[:3]}")
    facts = dict(version=version, n_versions=len(listing or []), n_history=len(history or []) if not err else None,
                 tmp_after=len(left), problems=problems)
    return not problems, facts


def main():
    a = parse_args()
    if not os.access(a.polarity, os.X_OK):
        sys.exit(f"{a.polarity} is missing: cargo build --release -p polarity-cli")
    work = tempfile.mkdtemp(prefix="polarity-faults-")
    t_all = time.monotonic()
    load0 = os.getloadavg()[0]
    try:
        # a private copy of the binary: a rebuild of target/release during the run must not change it
        cli = os.path.join(work, "polarity")
        shutil.copy2(a.polarity, cli)
        upload = os.path.join(work, "upload.csv")
        print(f"building {upload} ({a.rows} rows) ...", flush=True)
        build_upload(a.data, a.rows, upload)
        size_mb = os.path.getsize(upload) / 1e6

        # baseline
        home = os.path.join(work, "baseline")
        print(f"baseline run (uninterrupted) on {home} ...", flush=True)
        base = Run(cli, upload, home, os.path.join(work, "baseline.stderr"))
        rc = base.wait()
        base_ok, base_facts = check(cli, home, base, rc)
        for t, line in base.lines:
            print(f"  {t:7.2f}  {line}")
        if not base_ok:
            sys.exit(f"the uninterrupted run did not pass the checks: {base_facts['problems']}")
        total = base.lines[-1][0]
        store_t = next(t for t, l in base.lines if l.startswith("store "))
        sl = {s: (t, secs) for t, s, _, secs in base.stage_lines()}
        if set(sl) != set(STAGES):
            sys.exit(f"the uninterrupted run did not print all four stages: {sorted(sl)}")
        anchors = {"ingest": ("store", store_t), "process": ("ingest", sl["ingest"][0]),
                   "train": ("process", sl["process"][0]), "validate": ("train", sl["train"][0])}
        windows = {s: sl[s][0] - anchors[s][1] for s in STAGES}  # anchor line -> the stage's own line
        upload_s = windows["ingest"] - sl["ingest"][1]
        if not a.keep:
            shutil.rmtree(home, ignore_errors=True)

        # kill plan: round robin over the stages at evenly spaced fractions of each stage's window (kept inside
        # 5 %..75 % so that run-to-run variation rarely pushes a kill into the next stage), then the
        # temp-file kills: SIGKILL as soon as a temp file shows in bucket/.tmp after the stage's anchor line
        per = {s: 0 for s in STAGES}
        order = [STAGES[i % 4] for i in range(a.trials)]
        for s in order:
            per[s] += 1
        plan, seen = [], {s: 0 for s in STAGES}
        for s in order:
            frac = 0.05 + 0.7 * seen[s] / (per[s] - 1) if per[s] > 1 else 0.4
            seen[s] += 1
            plan.append((s, "time", frac, frac * windows[s]))
        plan += [(STAGES[i % 4], "tmp", None, None) for i in range(a.tmp_trials)]
        plan += [(("train", "validate")[i % 2], "lock", None, None) for i in range(a.lock_trials)]

        results = []
        for i, (target, mode, frac, delay) in enumerate(plan, 1):
            anchor, _ = anchors[target]
            # a temp-file kill whose run ends before a temp file is seen, and a lock kill that does not leave the
            # lock behind (it lives for microseconds), are tried again on a fresh home
            attempts = {"time": 1, "tmp": 3, "lock": 5}[mode]
            for attempt in range(1, attempts + 1):
                home = os.path.join(work, f"trial{i:02d}-{attempt}")
                run = Run(cli, upload, home, os.path.join(work, f"trial{i:02d}.killed.stderr"))
                killed = False
                if run.seen[anchor].wait(timeout=10 * total + 60):
                    if mode == "time":
                        end = time.monotonic() + delay
                        while time.monotonic() < end and run.proc.poll() is None:
                            time.sleep(min(0.002, max(0.0, end - time.monotonic())))
                    elif mode == "tmp":
                        # busy-poll: small objects live in .tmp for microseconds between write and rename
                        tmp_dir = os.path.join(home, "bucket", ".tmp")
                        n = 0
                        while True:
                            try:
                                if os.listdir(tmp_dir):
                                    break
                            except FileNotFoundError:
                                pass
                            n += 1
                            if n % 256 == 0 and run.proc.poll() is not None:
                                break
                    else:
                        lock = registry_lock(home)
                        n = 0
                        while not os.path.exists(lock):
                            n += 1
                            if n % 256 == 0 and run.proc.poll() is not None:
                                break
                    if run.proc.poll() is None:
                        run.proc.send_signal(signal.SIGKILL)
                        killed = True
                kill_wall = time.monotonic()
                kill_t = kill_wall - run.t0
                run.wait()
                if attempt == attempts or (killed and (mode != "lock" or os.path.exists(registry_lock(home)))):
                    break
                shutil.rmtree(home, ignore_errors=True)
            done = [s for _, s, _, _ in run.stage_lines()]
            if not killed:
                running = "none: the run ended before the kill" + (" (no temp file seen)" if mode == "tmp" else "")
            elif not done:
                running = "ingest (upload)" if not run.seen["store"].is_set() or \
                    kill_t - next(t for t, l in run.lines if l.startswith("store ")) < upload_s else "ingest"
            elif done[-1] == "validate":
                running = "summary (after validate)"
            else:
                running = STAGES[STAGES.index(done[-1]) + 1]
            left_by_kill = len(tmp_files(home))
            lock_left = os.path.exists(registry_lock(home))
            rerun = Run(cli, upload, home, os.path.join(work, f"trial{i:02d}.rerun.stderr"))
            rc = rerun.wait(timeout=20 * total + 120)
            rerun_s = time.monotonic() - rerun.t0
            ok, facts = check(cli, home, rerun, rc)
            already = [s for _, s, what, _ in rerun.stage_lines() if re.search(r"already (ingested|processed|trained)", what)]
            # the validate line has no "already" marker; the summary tells whether this run moved production
            promoted_by = "re-run" if any(l.startswith("upload to promotion:") for _, l in rerun.lines) else \
                "killed run" if any(l.startswith("nothing was promoted in this run") for _, l in rerun.lines) else "?"
            r = dict(trial=i, attempts=attempt, target=target, mode=mode, frac=frac, kill_t=kill_t, killed=killed, running=running,
                     tmp_by_kill=left_by_kill, lock_left=lock_left, rc=rc, rerun_s=rerun_s, already=already, promoted_by=promoted_by, ok=ok,
                     **facts)
            results.append(r)
            print(f"trial {i:2d}: target {target:<8} {mode:<4} kill at {kill_t:6.2f} s, running {running:<16} "
                  f"tmp left {left_by_kill}{', registry lock left' if lock_left else ''}, re-run rc {rc} in {rerun_s:.2f} s, already {already or '-'} -> "
                  f"{'recovered' if ok else 'NOT recovered: ' + '; '.join(facts['problems'])}", flush=True)
            if not ok:
                print("  re-run output:\n" + "\n".join("    " + l for _, l in rerun.lines), flush=True)
                with open(os.path.join(work, f"trial{i:02d}.rerun.stderr")) as f:
                    err = f.read().strip()
                if err:
                    print("  re-run stderr:\n    " + err[-2000:].replace("\n", "\n    "), flush=True)
            if not ok:
                # characterise the failure: does one more run recover once a lock left by the kill is 30 s old
                # (the file registry's stale-lock age)?
                time.sleep(max(0.0, kill_wall + 31 - time.monotonic()))
                again = Run(cli, upload, home, os.path.join(work, f"trial{i:02d}.again.stderr"))
                rc2 = again.wait(timeout=20 * total + 120)
                ok2, facts2 = check(cli, home, again, rc2)
                r["later"] = f"exit {rc2}, " + ("passes the checks" if ok2 else "; ".join(facts2["problems"]))
                print(f"  run again {time.monotonic() - kill_wall:.0f} s after the kill: {r['later']}", flush=True)
            if not a.keep:
                shutil.rmtree(home, ignore_errors=True)

        n_ok = sum(r["ok"] for r in results)
        hit = {r["running"].split()[0] for r in results if r["killed"]}
        stages_hit = [s for s in STAGES if s in hit] + sorted(hit - set(STAGES))
        lines = [
            f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores (loadavg {load0:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after; other work on the machine makes run times vary). Upload: {a.rows:,} rows "
            f"({size_mb:.1f} MB CSV, SST-2 train repeated with \" #i\" appended). Uninterrupted run: "
            f"{total:.2f} s — upload {upload_s:.2f} s, ingest {sl['ingest'][1]:.2f} s, process {sl['process'][1]:.2f} s, "
            f"train {sl['train'][1]:.2f} s, validate {sl['validate'][1]:.2f} s (each stage's own \"(N.NN s)\"; "
            "the rest is start-up, upload and the final summary).",
            "",
            "Kill point = the line that ends the previous stage (for ingest: the `store` line) + fraction × that "
            "stage's window in the uninterrupted run (the line before it to its own line); or, for the rows marked "
            "`tmp`, the first moment after that line when a temp file exists in `bucket/.tmp` (a write in flight); "
            "for `lock`, the first moment after it when `registry.json.lock` exists (a registry update in flight). "
            "SIGKILL; then the same command is re-run to completion on the same `--home`.",
            "",
            "| trial | target stage | kill point | killed at (s) | running at the kill (from output) | left by the kill "
            "| re-run exit | re-run (s) | re-run found done (\"already\") | promoted by | production | versions "
            "| history entries | .tmp after re-run | recovered | if not: one more run ≥ 31 s after the kill |",
            "|---:|---|---:|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|---|---|",
        ]
        for r in results:
            lines.append(
                f"| {r['trial']} | {r['target']} | {kill_point(r)} | {r['kill_t']:.2f} | {r['running']} | {left(r)} "
                f"| {r['rc']} | {r['rerun_s']:.2f} | {', '.join(r['already']) or '–'} | {r['promoted_by']} | {r['version'] or '–'} "
                f"| {r['n_versions']} | {r['n_history']} | {r['tmp_after']} | "
                f"{'yes' if r['ok'] else 'NO: ' + '; '.join(r['problems'])} | {r.get('later', '–')} |")
        lines.append("")
        def tally(mode):
            rs = [r for r in results if r["mode"] == mode]
            return f"{sum(r['ok'] for r in rs)} of {len(rs)}"
        lines.append(f"**Recovered {n_ok} of {len(results)}** ({tally('time')} timed kills, {tally('tmp')} temp-file kills, "
                     f"{tally('lock')} registry-lock kills); "
                     f"kills landed in: " + ", ".join(f"{s} {sum(1 for r in results if r['killed'] and r['running'].split()[0] == s)}"
                                                      for s in stages_hit) + "; "
                     f"{sum(1 for r in results if r['tmp_by_kill'])} kills left temp files behind, all removed by the re-run"
                     + ("" if all(r["tmp_after"] == 0 for r in results) else " (NOT: see the table)")
                     + f". Total test time {time.monotonic() - t_all:.0f} s.")
        stuck = [r for r in results if not r["ok"] and r["lock_left"]]
        if stuck:
            lines.append("")
            lines.append(f"{len(stuck)} failed trial(s) left `registry.json.lock` behind: the file registry treats a lock as "
                         "abandoned only when it is 30 s old and a caller waits at most 20 s for it, so a re-run right after "
                         "the crash fails with `transient registry error: …/registry.json.lock is locked`; the last column "
                         "shows a run once the lock is 30 s old.")
        text = "\n".join(lines)
        print("\n" + text)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            cmdline = "python3 bench/faults.py" + ("" if a.rows == 500_000 else f" --rows {a.rows}") + \
                ("" if a.trials == 13 else f" --trials {a.trials}") + ("" if a.tmp_trials == 4 else f" --tmp-trials {a.tmp_trials}") + \
                ("" if a.lock_trials == 2 else f" --lock-trials {a.lock_trials}")
            f.write(f"# Crash recovery: SIGKILL during each pipeline stage, then re-run\n\nMade by `{cmdline}`.\n\n" + text + "\n")
        return 0 if n_ok == len(results) else 1
    finally:
        for p in LIVE:
            if p.poll() is None:
                p.kill()
                p.wait()
        if a.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
