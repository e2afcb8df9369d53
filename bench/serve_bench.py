#!/usr/bin/env python3
"""Serving benchmark: Polarity's server (the dist build) vs the peer FastAPI server, in one run.

wrk at concurrency 1, 16, 64 on the SST-2 dev sentences (POST /predict {"text": ...}, the peer's post.lua), then
the c=64 ratio again --repeat times (Polarity and the peer with 2 workers alternating, for the spread), cold
start (process spawn -> first HTTP 200 from POST /predict, median of N), RSS for both, and the cost of shadow
agreement: Polarity at c=64 after a hot swap with --shadow-sample 0, 0.1 and 1 (the replaced model scores that
share of texts too), and the request shapes at c=64 on one server (Polarity's {"text"} on /predict, TEI's
{"inputs"} on /, a KServe V2 JSON tensor; with --baseline another binary's {"text"} alternating, to price a
change). Prints markdown tables with ratios and writes them to bench/results/serve.md. Python
stdlib + wrk only.

Usage (from the repo root):
  cargo build --profile dist -p polarity-server && cargo build --release -p polarity-cli
  python3 bench/serve_bench.py [--duration 10] [--conc 1 16 64] [--peer-workers 1 2] [--runs 5]
  python3 bench/serve_bench.py --only-shapes [--shapes 5] [--baseline OLD/polarity-server]
      (writes bench/results/serve-shapes.md)
The peer needs /tmp/peervenv and /tmp/peer_artifacts/sst2_model.joblib (see ../shared/peers/README.md).
"""
import argparse, http.client, json, os, socket, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
DEV = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "sst2", "dev.tsv"))
TRAIN = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "sst2", "train.tsv"))
LUA = os.path.join(PEERS, "post.lua")
SERVER = os.path.join(ROOT, "target", "dist", "polarity-server")  # the shipped build (Cargo.toml [profile.dist])
CLI = os.path.join(ROOT, "target", "release", "polarity")
sys.path.insert(0, PEERS)
import srv as peer  # noqa: E402  (the peer's own start/stop helpers, stdlib only)

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
ap.add_argument("--conc", type=int, nargs="+", default=[1, 16, 64])
ap.add_argument("--peer-workers", type=int, nargs="+", default=[1, 2])
ap.add_argument("--runs", type=int, default=5, help="cold-start repetitions")
ap.add_argument("--model", default="/tmp/sst2.plm", help="Polarity artifact (trained on SST-2 if missing)")
ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "serve.md"))
ap.add_argument("--skip-peer", action="store_true")
ap.add_argument("--repeat", type=int, default=3, help="extra c=64 runs of each server for the ratio's spread")
ap.add_argument("--shadow", type=float, nargs="*", default=[0.0, 0.1, 1.0], help="shadow samples to measure")
ap.add_argument("--shadow-runs", type=int, default=3)
ap.add_argument("--shapes", type=int, default=3, metavar="RUNS",
                help="c=64 runs of each request shape ({\"text\"} on /predict, TEI on /, a V2 JSON tensor), 0: none")
ap.add_argument("--baseline", help="another polarity-server binary (e.g. the previous commit's), measured on "
                "{\"text\"} alternating with this one in the shapes runs")
ap.add_argument("--only-shapes", action="store_true", help="measure the request shapes only (no peer, shadow, cold start)")
a = ap.parse_args()

BODY = json.dumps({"text": "a gorgeous , witty , seductive movie ."})


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def try_predict(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
        r = c.getresponse(); r.read(); c.close()
        return r.status == 200
    except OSError:
        return False


def wait_ready(port, limit=60.0):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if try_predict(port): return time.perf_counter() - t0
        time.sleep(0.001)
    raise RuntimeError(f"no 200 from :{port} within {limit}s")


def start_polarity(port, model=None, extra=(), binary=SERVER):
    cmd = [binary, "--model", model or a.model, "--addr", f"127.0.0.1:{port}", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def model_version(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read(); c.close()
    return r.getheader("x-model-version")


def shadow_cost(samples, runs):
    """c=64 throughput after a hot swap, with each shadow sample; returns {sample: [rps, ...]} and p99s."""
    import shutil, tempfile
    d = tempfile.mkdtemp(prefix="polarity-shadow-")
    half = os.path.join(d, "half.plm")
    lines = open(TRAIN, encoding="utf-8").read().splitlines()
    with open(os.path.join(d, "half.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines[: len(lines) // 2]) + "\n")
    subprocess.run([CLI, "train", "--data", os.path.join(d, "half.tsv"), "--out", half], check=True,
                   stdout=subprocess.DEVNULL)
    out = {}
    try:
        for s in samples:
            served = os.path.join(d, "served.plm")
            shutil.copy(half, served)
            port = free_port()
            p = start_polarity(port, served, ["--poll-interval", "1", "--shadow-sample", str(s)])
            try:
                wait_ready(port)
                before = model_version(port)
                tmp = served + ".tmp"
                shutil.copy(a.model, tmp); os.replace(tmp, served)
                t0 = time.time()
                while model_version(port) == before:
                    if time.time() - t0 > 30: raise RuntimeError("no hot swap within 30 s")
                    time.sleep(0.2)
                wrk(port, 16, 2)  # warm-up
                out[s] = [wrk(port, 64, a.duration) for _ in range(runs)]
                c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/metrics")
                text = c.getresponse().read().decode()
                comp = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("polarity_shadow_comparisons_total"))
                print(f"  shadow {s:<4} " + "  ".join(f"{r['rps']:.0f} req/s p99 {r['p99_ms']:.2f} ms" for r in out[s])
                      + f"  (shadow comparisons {comp:.0f})", flush=True)
                for r in out[s]: r["comparisons"] = comp
            finally:
                stop(p)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return out


def shapes_cost(runs):
    """c=64 throughput of each request shape on one server, runs interleaved (and of --baseline on {"text"});
    returns markdown lines."""
    servers = [("this", SERVER)] + ([("baseline", a.baseline)] if a.baseline else [])
    procs, ports = {}, {}
    res = {}
    try:
        for name, binary in servers:
            ports[name] = free_port()
            procs[name] = start_polarity(ports[name], binary=binary)
            wait_ready(ports[name]); wrk(ports[name], 16, 2, "text")
        for i in range(runs):
            for name, _ in servers:
                for shape in (SHAPES if name == "this" else ["text"]):
                    r = wrk(ports[name], 64, a.duration, shape)
                    if r["non2xx"] or r["sockerr"]:
                        raise RuntimeError(f"{name} {shape}: {r['non2xx']} non-2xx, {r['sockerr']} socket errors")
                    res.setdefault((name, shape), []).append(r)
                    print(f"  run {i + 1} {name:<8} {shape:<4} {r['rps']:.0f} req/s p99 {r['p99_ms']:.2f} ms", flush=True)
    finally:
        for p in procs.values():
            stop(p)
    med = {k: statistics.median(r["rps"] for r in v) for k, v in res.items()}
    out = ["", f"Request shapes at c=64 (one server, {runs} interleaved runs of {a.duration} s each; `bench/shapes.lua`):", "",
           "| shape | route | req/s (median) | runs | p99 ms (median) | vs {\"text\"} |", "|---|---|---:|---|---:|---:|"]
    for shape, route in SHAPES.items():
        rs = res[("this", shape)]
        out.append(f"| {shape} | POST {route} | {med[('this', shape)]:.0f} | " + ", ".join(f"{r['rps']:.0f}" for r in rs)
                   + f" | {statistics.median(r['p99_ms'] for r in rs):.2f} | {med[('this', shape)] / med[('this', 'text')]:.2f} |")
    if a.baseline:
        rs = res[("baseline", "text")]
        ratios = [n["rps"] / b["rps"] for n, b in zip(res[("this", "text")], rs)]
        out.append("")
        out.append(f"{{\"text\"}} on /predict against `{os.path.basename(a.baseline)}` (the baseline binary), alternating: "
                   f"baseline median {med[('baseline', 'text')]:.0f} req/s (runs " + ", ".join(f"{r['rps']:.0f}" for r in rs)
                   + f"); this / baseline per run " + ", ".join(f"{x:.3f}" for x in ratios)
                   + f", median **{statistics.median(ratios):.3f}**.")
    return out


def stop(p):
    p.terminate()
    try: p.wait(timeout=15)
    except subprocess.TimeoutExpired: p.kill(); p.wait()


def status_kb(pids, field):
    tot = 0
    for pid in pids:
        try:
            for l in open(f"/proc/{pid}/status"):
                if l.startswith(field + ":"): tot += int(l.split()[1])
        except OSError:
            pass
    return tot / 1024


SHAPES = {"text": "/predict", "tei": "/", "v2": "/v2/models/polarity/infer"}
SHAPES_LUA = os.path.join(ROOT, "bench", "shapes.lua")


def wrk(port, c, d, shape=None):
    script, path, extra = (LUA, "/predict", []) if shape is None else (SHAPES_LUA, SHAPES[shape], [shape])
    cmd = ["wrk", f"-t{min(c, 2)}", f"-c{c}", f"-d{d}s", "--timeout", "10s", "-s", script,
           f"http://127.0.0.1:{port}{path}", "--", DEV, *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    r = json.loads(next(l for l in out.splitlines() if l.startswith("WRKJSON "))[8:])
    r["sockerr"] = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
    return r


def load_runs(name, start, stopper, port, pids_of):
    p = start(port)
    rows = []
    try:
        wait_ready(port)
        time.sleep(0.5)
        wrk(port, 16, 2)  # warm-up, discarded
        for c in a.conc:
            r = wrk(port, c, a.duration)
            pids = pids_of(p)
            r.update(name=name, conc=c, rss=status_kb(pids, "VmRSS"), hwm=status_kb(pids, "VmHWM"))
            rows.append(r)
            print(f"  {name:<22} c={c:<3} {r['rps']:>9.0f} req/s  p50 {r['p50_ms']:.3f} ms  p99 {r['p99_ms']:.3f} ms  "
                  f"non2xx {r['non2xx']}  sockerr {r['sockerr']}  RSS {r['rss']:.1f} MB", flush=True)
        extra = None
        if name.startswith("polarity"):
            c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/metrics")
            text = c.getresponse().read().decode()
            extra = sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith("polarity_predictions_total{"))
    finally:
        stopper(p)
    return rows, extra


def load_once(start, stopper, pids_of):
    """One c=64 wrk run on a fresh server (after a short warm-up)."""
    port = free_port()
    p = start(port)
    try:
        wait_ready(port); time.sleep(0.5); wrk(port, 16, 2)
        r = wrk(port, 64, a.duration)
        return r, pids_of(p)
    finally:
        stopper(p)


def cold(start, stopper):
    ts = []
    for _ in range(a.runs):
        port = free_port()
        t0 = time.perf_counter(); p = start(port)
        try:
            wait_ready(port); ts.append(time.perf_counter() - t0)
        finally:
            stopper(p)
        time.sleep(0.3)
    return ts


def main():
    if not os.path.exists(SERVER):
        sys.exit(f"{SERVER} missing: cargo build --profile dist -p polarity-server")
    if not os.path.exists(a.model):
        print(f"training {a.model} ...", flush=True)
        subprocess.run([CLI, "train", "--data", TRAIN, "--test", DEV, "--out", a.model], check=True,
                       stdout=subprocess.DEVNULL)
    load0 = os.getloadavg()
    if a.only_shapes:
        text = "\n".join(shapes_cost(a.shapes or 3))
        print(text)
        path = os.path.join(os.path.dirname(a.out), "serve-shapes.md")
        with open(path, "w") as f:
            f.write("# Serving benchmark: request shapes\n\nMade by `python3 bench/serve_bench.py --only-shapes"
                    + (" --baseline <previous server>" if a.baseline else "") + f"`, {time.strftime('%Y-%m-%d %H:%M')}, "
                    f"{os.cpu_count()} cores, loadavg before {load0[0]:.2f} after {os.getloadavg()[0]:.2f}.\n" + text + "\n")
        return
    print(f"cores {os.cpu_count()}, loadavg before {load0[0]:.2f}; wrk -d{a.duration}s on {DEV}", flush=True)
    rows = []
    r, pol_count = load_runs("polarity", start_polarity, stop, free_port(), lambda p: [p.pid])
    rows += r
    if not a.skip_peer:
        for w in a.peer_workers:
            r, _ = load_runs(f"peer FastAPI {w}w", lambda port, w=w: peer.start(w, port), peer.stop, free_port(),
                             lambda p: [p.pid] + peer.descendants(p.pid))
            rows += r
    spread = []
    if not a.skip_peer and a.repeat > 0:
        print(f"c=64 ratio, {a.repeat} more runs each ...", flush=True)
        for i in range(a.repeat):
            rp, _ = load_once(start_polarity, stop, lambda p: [p.pid])
            rq, _ = load_once(lambda port: peer.start(2, port), peer.stop, lambda p: [p.pid] + peer.descendants(p.pid))
            spread.append((rp, rq))
            print(f"  run {i + 1}: polarity {rp['rps']:.0f} (p99 {rp['p99_ms']:.2f} ms), peer 2w {rq['rps']:.0f} -> "
                  f"{rp['rps'] / rq['rps']:.1f}x", flush=True)
    shadow = shadow_cost(a.shadow, a.shadow_runs) if a.shadow else {}
    shapes = shapes_cost(a.shapes) if a.shapes else []
    print("cold start ...", flush=True)
    pol_cold = cold(start_polarity, stop)
    peer_cold = [] if a.skip_peer else cold(lambda port: peer.start(1, port), peer.stop)
    load1 = os.getloadavg()

    out = []
    out.append(f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores (wrk shares the cores with the server); "
               f"loadavg before {load0[0]:.2f}, after {load1[0]:.2f}. wrk {a.duration} s per row, POST /predict "
               f"{{\"text\"}} cycling through SST-2 dev (872 sentences), `../shared/peers/post.lua`.\n")
    out.append("| server | conc | req/s | p50 ms | p99 ms | max ms | non-2xx | socket errors | RSS MB |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        out.append(f"| {r['name']} | {r['conc']} | {r['rps']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['max_ms']:.1f} | "
                   f"{r['non2xx']} | {r['sockerr']} | {r['rss']:.1f} |")
    pol = {r["conc"]: r for r in rows if r["name"] == "polarity"}
    peers = [r for r in rows if r["name"] != "polarity"]
    out.append("")
    out.append(f"Cold start (spawn -> first 200 POST /predict), median of {a.runs}: polarity "
               f"{statistics.median(pol_cold) * 1000:.1f} ms (runs " + ", ".join(f"{t * 1000:.1f}" for t in pol_cold) + ")"
               + ("" if not peer_cold else f"; peer (1 worker) {statistics.median(peer_cold):.2f} s (runs "
                  + ", ".join(f"{t:.2f}" for t in peer_cold) + f"); ratio {statistics.median(peer_cold) / statistics.median(pol_cold):.0f}x"))
    out.append("")
    if peers and 64 in pol:
        best = max((r for r in peers if r["conc"] == 64), key=lambda r: r["rps"])
        out.append(f"Ratio at c=64: polarity {pol[64]['rps']:.0f} req/s / peer best ({best['name']}) {best['rps']:.0f} req/s = "
                   f"**{pol[64]['rps'] / best['rps']:.1f}x** (target >= 40x); p99 {pol[64]['p99_ms']:.2f} ms vs {best['p99_ms']:.1f} ms; "
                   f"RSS {pol[64]['rss']:.1f} MB vs {best['rss']:.0f} MB.")
    if spread:
        ratios = [rp["rps"] / rq["rps"] for rp, rq in spread]
        if peers and 64 in pol:
            ratios.insert(0, pol[64]["rps"] / max(r["rps"] for r in peers if r["conc"] == 64))
        out.append("")
        out.append(f"The c=64 ratio over {len(ratios)} runs (the table's, then {len(spread)} alternating runs of Polarity and "
                   f"the peer with 2 workers): median **{statistics.median(ratios):.1f}x**, min {min(ratios):.1f}x, max "
                   f"{max(ratios):.1f}x (runs " + ", ".join(f"{x:.1f}" for x in ratios) + "); Polarity p99 "
                   + ", ".join(f"{rp['p99_ms']:.2f}" for rp, _ in spread) + " ms; non-2xx + socket errors "
                   + str(sum(rp["non2xx"] + rp["sockerr"] for rp, _ in spread)) + ".")
    if shadow:
        base = statistics.median(r["rps"] for r in shadow.get(0.0, shadow[min(shadow)]))
        out.append("")
        out.append("Shadow agreement cost (c=64 after a hot swap; the replaced model also scores the sampled texts):")
        out.append("")
        out.append("| --shadow-sample | req/s (median of runs) | runs | p99 ms (median) | vs 0 |")
        out.append("|---:|---:|---|---:|---:|")
        for smp, rs in sorted(shadow.items()):
            med = statistics.median(r["rps"] for r in rs)
            out.append(f"| {smp} | {med:.0f} | " + ", ".join(f"{r['rps']:.0f}" for r in rs)
                       + f" | {statistics.median(r['p99_ms'] for r in rs):.2f} | {med / base:.2f} |")
        out.append("")
    out += shapes
    total_non2xx = sum(r["non2xx"] + r["sockerr"] for r in pol.values())
    worst_p99 = max(r["p99_ms"] for r in pol.values())
    out.append(f"Targets: p99 <= 5 ms: worst polarity p99 {worst_p99:.2f} ms -> {'met' if worst_p99 <= 5 else 'NOT met'}; "
               f"zero non-2xx: {total_non2xx} -> {'met' if total_non2xx == 0 else 'NOT met'}; cold start <= 50 ms: "
               f"{'met' if statistics.median(pol_cold) <= 0.05 else 'NOT met'}.")
    if pol_count is not None:
        out.append(f"Polarity /metrics after the load runs: polarity_predictions_total = {pol_count:.0f}.")
    if max(load0[0], load1[0]) > 1.0:
        out.append(f"\nNote: the 1-minute load average was {max(load0[0], load1[0]):.2f} around the run: other work "
                   "(e.g. compilation) shared the 2 cores, so numbers may be disturbed.")
    text = "\n".join(out)
    print("\n" + text)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        f.write("# Serving benchmark: Polarity vs peer FastAPI\n\nMade by `python3 bench/serve_bench.py`.\n\n" + text + "\n")


if __name__ == "__main__":
    main()
