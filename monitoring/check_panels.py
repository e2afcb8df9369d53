#!/usr/bin/env python3
"""Prove that every Grafana panel query returns data (python3 stdlib only).

Given a running polarity-server, this starts a real Prometheus (the Debian `prometheus` binary) on 127.0.0.1 with
an ephemeral port and a temporary config that scrapes the server every second (and a Pushgateway, for the
pipeline panels), sends /predict traffic (valid and invalid requests) while the scrapes run, then evaluates EVERY
target expression of every dashboard in monitoring/grafana/dashboards through Prometheus's HTTP API
(/api/v1/query). It fails if any expression errors, returns no series, or returns only NaN. It also loads
monitoring/prometheus/alerts.yml into that Prometheus and fails if a rule reports an evaluation error.

Pipeline panels: pass --pushgateway URL of a running gateway, or let the script start the Debian
`prometheus-pushgateway` binary on an ephemeral port; either way it runs `polarity pipeline run` (--cli, default
target/debug/polarity) twice, as two processes, with POLARITY_PUSHGATEWAY set, so those panels read what the real
pipeline telemetry pushed, and checks that the two processes' counters add up instead of overwriting each other.

    python3 monitoring/check_panels.py --server http://127.0.0.1:8080
    python3 monitoring/check_panels.py --server http://127.0.0.1:8080 --pushgateway http://127.0.0.1:9091

Traffic goes only to the given URLs, which must be loopback addresses.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "grafana" / "dashboards"
ALERTS = HERE / "prometheus" / "alerts.yml"

# Grafana's built-in interval variables, replaced before sending a panel query to Prometheus.
GRAFANA_VARS = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m"}

VALID_BODIES = [
    {"text": "a gorgeous, witty, seductive movie."},
    {"text": "the plot is thin and the acting is wooden."},
    {"texts": ["an utterly charming film", "boring, predictable and far too long", "zxqv blorf"]},
]
INVALID_REQUESTS = [
    ("POST", "/predict", b"{not json", "application/json"),
    ("POST", "/predict", b"{}", "application/json"),
    ("POST", "/predict", b'{"text": ""}', "application/json"),
    ("GET", "/predict", None, None),
    ("GET", "/no-such-route", None, None),
]


def log(msg: str) -> None:
    print(f"[check_panels] {msg}", flush=True)


def require_loopback(url: str) -> str:
    host = urllib.parse.urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing to send traffic to {url}: only loopback addresses are allowed")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, ctype: str | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_until(what: str, pred, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except (OSError, urllib.error.URLError, ValueError) as e:
            last_err = e
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_err})" if last_err else ""))


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every target of every panel, rows included."""
    out = []
    files = sorted(DASHBOARDS.glob("*.json"))
    if not files:
        raise SystemExit(f"no dashboards under {DASHBOARDS}")

    def walk(fname: str, panels: list) -> None:
        for p in panels:
            walk(fname, p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((fname, p.get("title", "?"), t["expr"]))

    for f in files:
        d = json.loads(f.read_text())
        walk(f.name, d.get("panels", []))
    return out


def run_real_pipelines(cli: str, gateway: str, tmp: Path) -> None:
    """Run the embedded pipeline twice, as two separate processes, with POLARITY_PUSHGATEWAY set: the
    pipeline metrics the panels and alerts read come from shared/pipeline's real telemetry. Two processes
    because each pushes its own group (job + instance); a shared group would let the second overwrite the
    first, which the caller checks for."""
    example = Path(__file__).resolve().parent.parent / "examples" / "reviews.csv"
    for i in (1, 2):
        home = tmp / f"pipeline-home-{i}"
        p = subprocess.run([cli, "pipeline", "run", str(example), "--home", str(home)],
                           env=dict(os.environ, POLARITY_PUSHGATEWAY=gateway), capture_output=True, text=True,
                           timeout=300)
        if p.returncode != 0:
            raise SystemExit(f"pipeline run {i} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    status, text = http("GET", f"{gateway}/api/v1/metrics")
    groups = json.loads(text)["data"] if status == 200 else []
    instances = {g["labels"].get("instance") for g in groups if g["labels"].get("job") == "polarity_pipeline"}
    if len(instances) != 2:
        raise SystemExit(f"expected two pipeline groups (one per process) in the Pushgateway, found {instances}")


def send_traffic(server: str, stop: threading.Event, stats: dict) -> None:
    while not stop.is_set():
        for body in VALID_BODIES:
            status, _ = http("POST", f"{server}/predict", json.dumps(body).encode(), "application/json")
            stats.setdefault(status, 0)
            stats[status] += 1
        for method, path, body, ctype in INVALID_REQUESTS:
            status, _ = http(method, f"{server}{path}", body, ctype)
            stats.setdefault(status, 0)
            stats[status] += 1
        for path in ("/health", "/ready", "/info"):
            http("GET", f"{server}{path}")
        time.sleep(0.05)


def query(prom: str, expr: str) -> list:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    status, body = http("GET", url, timeout=10)
    doc = json.loads(body)
    if status != 200 or doc.get("status") != "success":
        raise ValueError(doc.get("error", f"HTTP {status}"))
    return doc["data"]["result"]


def has_data(result: list) -> bool:
    for series in result:
        v = series.get("value", [None, "NaN"])[1]
        try:
            if not math.isnan(float(v)):
                return True
        except (TypeError, ValueError):
            continue
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True, help="base URL of a running polarity-server, e.g. http://127.0.0.1:8080")
    ap.add_argument("--pushgateway", help="base URL of a running Pushgateway (default: start the Debian binary)")
    ap.add_argument("--prometheus-bin", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    ap.add_argument("--pushgateway-bin", default=shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway")
    ap.add_argument("--traffic-seconds", type=float, default=8.0, help="how long to send traffic while Prometheus scrapes")
    ap.add_argument("--keep", action="store_true", help="keep the temporary Prometheus directory")
    ap.add_argument("--cli", default=str(Path(__file__).resolve().parent.parent / "target" / "debug" / "polarity"),
                    help="the polarity binary whose `pipeline run` pushes the pipeline metrics")
    args = ap.parse_args()

    server = require_loopback(args.server)
    if not os.access(args.prometheus_bin, os.X_OK):
        raise SystemExit(f"prometheus binary not found ({args.prometheus_bin}): apt-get install -y --no-install-recommends prometheus")

    status, _ = http("GET", f"{server}/health")
    if status != 200:
        raise SystemExit(f"{server}/health answered {status}; start the server first")

    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="check-panels-"))
    try:
        gateway = require_loopback(args.pushgateway) if args.pushgateway else None
        if gateway is None:
            if not os.access(args.pushgateway_bin, os.X_OK):
                raise SystemExit(f"no --pushgateway and no {args.pushgateway_bin}: apt-get install -y --no-install-recommends prometheus-pushgateway")
            gw_port = free_port()
            procs.append(subprocess.Popen(
                [args.pushgateway_bin, f"--web.listen-address=127.0.0.1:{gw_port}", f"--persistence.file={tmp / 'pgw.data'}"],
                stdout=(tmp / "pushgateway.log").open("w"), stderr=subprocess.STDOUT))
            gateway = f"http://127.0.0.1:{gw_port}"
            wait_until("pushgateway", lambda: http("GET", f"{gateway}/-/ready")[0] == 200, 15)
        run_real_pipelines(args.cli, gateway, tmp)
        log(f"two `polarity pipeline run` processes pushed their metrics to {gateway}")

        shutil.copy(ALERTS, tmp / "alerts.yml")
        srv = urllib.parse.urlparse(server)
        gw = urllib.parse.urlparse(gateway)
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n  - alerts.yml\n"
            "scrape_configs:\n"
            f"  - job_name: polarity-server\n    static_configs:\n      - targets: ['{srv.netloc}']\n"
            f"  - job_name: pushgateway\n    honor_labels: true\n    static_configs:\n      - targets: ['{gw.netloc}']\n"
        )
        prom_port = free_port()
        prom = f"http://127.0.0.1:{prom_port}"
        procs.append(subprocess.Popen(
            [args.prometheus_bin, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=(tmp / "prometheus.log").open("w"), stderr=subprocess.STDOUT))
        wait_until("prometheus ready", lambda: http("GET", f"{prom}/-/ready")[0] == 200, 30)
        log(f"prometheus on {prom}, scraping {srv.netloc} and {gw.netloc} every 1s")

        def targets_up() -> bool:
            doc = json.loads(http("GET", f"{prom}/api/v1/targets")[1])
            health = {t["labels"]["job"]: t["health"] for t in doc["data"]["activeTargets"]}
            return health.get("polarity-server") == "up" and health.get("pushgateway") == "up"

        wait_until("both scrape targets up", targets_up, 30)

        stop, stats = threading.Event(), {}
        t = threading.Thread(target=send_traffic, args=(server, stop, stats), daemon=True)
        t.start()
        time.sleep(args.traffic_seconds)
        # keep traffic flowing while querying so rate() windows contain increases
        log(f"traffic so far by status: {dict(sorted(stats.items()))}")
        if not any(200 <= s < 300 for s in stats):
            raise SystemExit("no /predict request succeeded: is a model loaded (GET /ready)?")
        if not any(400 <= s < 500 for s in stats):
            raise SystemExit("no invalid request was rejected with a 4xx")

        failures = 0
        queries = dashboard_queries()
        for fname, title, expr in queries:
            q = expr
            for k, v in GRAFANA_VARS.items():
                q = q.replace(k, v)
            try:
                res = query(prom, q)
                ok = has_data(res)
                detail = f"{len(res)} series" if ok else "NO DATA"
            except (ValueError, urllib.error.URLError) as e:
                ok, detail = False, f"ERROR {e}"
            failures += not ok
            print(f"  {'ok  ' if ok else 'FAIL'} {fname:18} {title[:48]:48} {detail:12} {q}")
        stop.set()
        t.join(timeout=10)

        runs = query(prom, 'sum(polarity_pipeline_runs_total{stage="ingest"})')
        n = float(runs[0]["value"][1]) if runs else 0.0
        print(f"  {'ok  ' if n == 2 else 'FAIL'} ingest runs summed over both pipeline processes: {n:g} (want 2)")
        failures += n != 2

        rules = json.loads(http("GET", f"{prom}/api/v1/rules")[1])["data"]["groups"]
        rule_errors = [(r["name"], r.get("lastError")) for g in rules for r in g["rules"] if r.get("health") == "err"]
        nrules = sum(len(g["rules"]) for g in rules)
        for name, err in rule_errors:
            print(f"  FAIL rule {name}: {err}")
        log(f"{len(queries) - failures}/{len(queries)} panel queries returned data; {nrules - len(rule_errors)}/{nrules} alert rules evaluated cleanly")
        return 1 if failures or rule_errors else 0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
