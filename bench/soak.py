#!/usr/bin/env python3
"""Soak test of polarity-server: sustained load, hot swaps and hostile slow clients, all at once.

What it does (a soak test, not a timed unit test):
  1. Trains two artifacts with `polarity train` on the two halves of SST-2 train.tsv (or takes them via
     --model A.plm [B.plm]; with one path the second is trained on the second half of train.tsv).
  2. Starts `polarity-server --model <served.plm> --poll-interval 1` on a free 127.0.0.1 port.
  3. For --seconds, at the same time:
       * wrk -t2 -c<connections> POSTs /predict {"text": <SST-2 dev sentence>} (lua script in a temp file);
       * the served file is hot-swapped atomically (write tmp + os.replace) every --swap-interval seconds,
         alternating between the two artifacts;
       * --slow-body clients send headers with a Content-Length and half the body, then stall (the server
         should answer 408 {"error_type": "body_timeout"} after --request-timeout, default 10 s); they
         reconnect and do it again;
       * --slow-header clients send part of the request line or headers, then stall (the server should
         disconnect them after --header-timeout, default 5 s); they reconnect and do it again;
       * one well-behaved client sends single POST /predict requests one after another (10 ms apart) on a
         keep-alive connection and records status and latency.
  4. Waits two poll intervals (so the last swap is picked up), reads /metrics, stops the server.

Prints a markdown table and writes it to bench/results/soak.md. Exits 1 if the well-behaved client saw any
non-200 (or a connection error), if the server answered any 5xx (from its own /metrics), or if the server
died. Python standard library + wrk (apt-get install -y wrk).

Usage (from the repo root, after cargo build --release -p polarity-server -p polarity-cli):
  python3 bench/soak.py [--seconds 60] [--connections 256] [--slow-body 200] [--slow-header 200]
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=os.path.join(ROOT, "target", "release", "polarity-server"),
                    help="polarity-server binary (default: %(default)s)")
    ap.add_argument("--polarity", default=os.path.join(ROOT, "target", "release", "polarity"),
                    help="polarity CLI binary, used to train the artifacts (default: %(default)s)")
    ap.add_argument("--data", default=os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "sst2")),
                    help="folder with SST-2 train.tsv and dev.tsv (default: %(default)s)")
    ap.add_argument("--model", nargs="+", metavar="PLM",
                    help="one or two artifacts to serve and swap between (default: train two on the halves of train.tsv)")
    ap.add_argument("--seconds", type=int, default=60, help="soak duration in seconds (default: %(default)s)")
    ap.add_argument("--connections", type=int, default=256, help="wrk connections (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default: %(default)s)")
    ap.add_argument("--slow-body", type=int, default=200, help="slow-body clients (default: %(default)s)")
    ap.add_argument("--slow-header", type=int, default=200, help="slow-header clients (default: %(default)s)")
    ap.add_argument("--hostile", type=int, default=2,
                    help="threads sending bench/attacks.py's server attacks in a loop (default: %(default)s)")
    ap.add_argument("--swap-interval", type=float, default=3.0,
                    help="seconds between hot swaps of the served file (default: %(default)s)")
    ap.add_argument("--poll-interval", type=float, default=1.0,
                    help="server --poll-interval in seconds (default: %(default)s)")
    ap.add_argument("--request-timeout", type=float, default=10.0,
                    help="server --request-timeout; the slow-body clients expect 408 after it (default: %(default)s)")
    ap.add_argument("--header-timeout", type=float, default=5.0,
                    help="server --header-timeout; slow-header clients expect a disconnect after it (default: %(default)s)")
    ap.add_argument("--client-gap", type=float, default=0.010,
                    help="pause in seconds between the well-behaved client's requests (default: %(default)s)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "soak.md"),
                    help="markdown file to write (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (artifacts, lua, server log)")
    a = ap.parse_args()
    if a.model and len(a.model) > 2:
        ap.error("--model takes one or two artifacts")
    return a


def clean_env():
    """The environment without POLARITY_* variables, so no stray setting changes the server under test."""
    return {k: v for k, v in os.environ.items() if not k.startswith("POLARITY_")}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def read_tsv(path):
    """(label, text) rows of an SST-2 TSV (header skipped)."""
    with open(path, encoding="utf-8") as f:
        next(f)
        return [tuple(l.rstrip("\n").split("\t", 1)) for l in f if "\t" in l]


def pct(xs, q):
    """Nearest-rank percentile of a non-empty list (q in 0..100)."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100 * len(s) + 0.5)) - 1))
    return s[k]


def lua_string(s):
    """A Lua string literal for s: printable ASCII as is, every other byte as a decimal escape."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        out.append(c if 32 <= b < 127 and c not in '\\"' else "\\%03d" % b)
    return '"' + "".join(out) + '"'


def write_lua(path, texts):
    bodies = ",\n".join("  " + lua_string(json.dumps({"text": t})) for t in texts)
    with open(path, "w") as f:
        f.write("-- generated by bench/soak.py: POST /predict {\"text\": <SST-2 sentence>}, cycling\n"
                "local bodies = {\n" + bodies + "\n}\n"
                "local reqs, i = {}, 0\n"
                "function init(args)\n"
                "  for _, b in ipairs(bodies) do\n"
                "    reqs[#reqs + 1] = wrk.format(\"POST\", nil, {[\"Content-Type\"] = \"application/json\"}, b)\n"
                "  end\n"
                "end\n"
                "function request()\n"
                "  i = i % #reqs + 1\n"
                "  return reqs[i]\n"
                "end\n"
                "function done(s, lat, r)\n"
                "  io.write(string.format('WRKJSON {\"requests\":%d,\"duration_s\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
                "\"max_ms\":%.3f,\"non2xx\":%d,\"err_connect\":%d,\"err_read\":%d,\"err_write\":%d,\"err_timeout\":%d}\\n',\n"
                "    s.requests, s.duration / 1e6, lat:percentile(50) / 1000, lat:percentile(99) / 1000, lat.max / 1000,\n"
                "    s.errors.status, s.errors.connect, s.errors.read, s.errors.write, s.errors.timeout))\n"
                "end\n")


def train(cli, rows, path, out):
    with open(path, "w", encoding="utf-8") as f:
        f.write("label\tsentence\n")
        for label, text in rows:
            f.write(f"{label}\t{text}\n")
    subprocess.run([cli, "train", "--data", path, "--out", out], check=True, stdout=subprocess.DEVNULL, env=clean_env())


def get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def metrics(port):
    """Parsed /metrics: reloads by result, HTTP responses by status, and the raw text."""
    _, text = get(port, "/metrics")
    reloads, statuses = {}, {}
    for line in text.splitlines():
        m = re.match(r'polarity_model_reloads_total\{result="(\w+)"\}\s+(\S+)', line)
        if m:
            reloads[m.group(1)] = reloads.get(m.group(1), 0) + float(m.group(2))
        if line.startswith("polarity_http_requests_total{"):
            m = re.search(r'status="(\d+)"', line)
            if m:
                statuses[m.group(1)] = statuses.get(m.group(1), 0) + float(line.split()[-1])
    return reloads, statuses


def wait_ready(port, proc, limit=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was ready")
        try:
            if get(port, "/ready", timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server on :{port} was not ready within {limit} s")


# ---------------------------------------------------------------------------------------------- slow clients

class Results(list):
    """Finished attempts of one kind of slow client, plus how many were still stalled when the soak ended."""
    stalled_at_end = 0


async def read_response(reader, limit):
    """Reads one HTTP response (or up to EOF); returns (raw bytes, how it ended: 'response'|'eof'|'reset'|'wait')."""
    buf = b""
    deadline = time.monotonic() + limit
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return buf, "wait"
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                return buf, "eof"
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(body) >= int(m.group(1)):
                    return buf, "response"
    except asyncio.TimeoutError:
        return buf, "wait"
    except (ConnectionResetError, BrokenPipeError):
        return buf, "reset"


def parse_response(raw):
    """(status or None, error_type or None, body is JSON)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if not m:
        return None, None, False
    try:
        doc = json.loads(body)
        return int(m.group(1)), doc.get("error_type") if isinstance(doc, dict) else None, True
    except ValueError:
        return int(m.group(1)), None, False


async def slow_body_client(port, stop, results, body, wait_limit):
    head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            results.append({"outcome": "connect_error", "error": str(e)})
            await asyncio.sleep(0.2)
            continue
        try:
            writer.write(head + body[: len(body) // 2])
            await writer.drain()
            t0 = time.monotonic()
            stop_task = asyncio.ensure_future(stop.wait())
            read_task = asyncio.ensure_future(read_response(reader, wait_limit))
            await asyncio.wait({stop_task, read_task}, return_when=asyncio.FIRST_COMPLETED)
            if not read_task.done():  # the soak ended while this client was stalled: not counted
                read_task.cancel()
                stop_task.cancel()
                results.stalled_at_end += 1
                break
            stop_task.cancel()
            raw, how = read_task.result()
            status, etype, is_json = parse_response(raw)
            results.append({"outcome": how, "elapsed": time.monotonic() - t0, "status": status,
                            "error_type": etype, "json": is_json})
        except OSError as e:
            results.append({"outcome": "io_error", "error": str(e)})
        finally:
            writer.close()


async def slow_header_client(idx, port, stop, results, wait_limit):
    # even clients stop inside the request line, odd ones inside the header block
    partial = b"POST /predi" if idx % 2 == 0 else f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Ty".encode()
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            results.append({"outcome": "connect_error", "error": str(e)})
            await asyncio.sleep(0.2)
            continue
        try:
            t0 = time.monotonic()  # the server's header deadline runs from the connection's start
            writer.write(partial)
            await writer.drain()
            stop_task = asyncio.ensure_future(stop.wait())
            read_task = asyncio.ensure_future(read_response(reader, wait_limit))
            await asyncio.wait({stop_task, read_task}, return_when=asyncio.FIRST_COMPLETED)
            if not read_task.done():
                read_task.cancel()
                stop_task.cancel()
                results.stalled_at_end += 1
                break
            stop_task.cancel()
            raw, how = read_task.result()
            status, _, _ = parse_response(raw)
            results.append({"outcome": how, "elapsed": time.monotonic() - t0, "status": status, "bytes": len(raw)})
        except OSError as e:
            results.append({"outcome": "io_error", "error": str(e)})
        finally:
            writer.close()


def run_slow_clients(port, n_body, n_header, seconds, body, a, body_res, header_res):
    async def main():
        stop = asyncio.Event()
        tasks = []
        for i in range(max(n_body, n_header)):
            if i < n_body:
                tasks.append(asyncio.ensure_future(slow_body_client(port, stop, body_res, body, a.request_timeout + 20)))
            if i < n_header:
                tasks.append(asyncio.ensure_future(slow_header_client(i, port, stop, header_res, a.header_timeout + 20)))
            await asyncio.sleep(0.005)  # spread the connects over ~1 s
        await asyncio.sleep(max(0.0, seconds - 0.005 * max(n_body, n_header)))
        stop.set()
        await asyncio.wait(tasks, timeout=10)
    asyncio.run(main())


# ----------------------------------------------------------------------------------------- the polite client

def polite_client(port, stop, texts, gap, out):
    conn = None
    i = 0
    while not stop.is_set():
        body = json.dumps({"text": texts[i % len(texts)]})
        i += 1
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            dt = time.perf_counter() - t0
            out.append({"status": r.status, "latency": dt, "version": r.getheader("x-model-version"),
                        "body": None if r.status == 200 else data[:200].decode("utf-8", "replace")})
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            out.append({"status": None, "latency": time.perf_counter() - t0, "error": f"{type(e).__name__}: {e}"})
            if conn is not None:
                conn.close()
            conn = None
        time.sleep(gap)
    if conn is not None:
        conn.close()


def hostile_client(port, stop, out):
    """Sends bench/attacks.py's server attacks (those without --api-key) in turn until stopped; records
    (attack, why it was wrong or None)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import attacks
    plain = [x for x in attacks.SERVER_ATTACKS if not x[3]]
    i = 0
    while not stop.is_set():
        name, data, check, _ = plain[i % len(plain)]
        i += 1
        try:
            if isinstance(data, tuple):
                raw, secs = attacks.exchange(port, data[0], data[1], data[2], timeout=10)
            else:
                raw, secs = attacks.exchange(port, data, timeout=10)
            # under full load answers may be slower than the standalone 2 s; the shape must be right
            why = check(raw, 0.0)
            status = attacks.http_answer(raw)[0]
        except OSError as e:
            why, status = f"connection error: {e}", None
        out.append((name, why, status))


def swapper(served, artifacts, stop, interval, swaps):
    k = 1
    while not stop.wait(interval):
        src = artifacts[k % len(artifacts)]
        tmp = served + ".tmp"
        shutil.copyfile(src, tmp)
        os.replace(tmp, served)
        swaps.append(time.monotonic())
        k += 1


# ------------------------------------------------------------------------------------------------------ main

def summarize(xs):
    if not xs:
        return "–"
    return f"min {min(xs):.2f} / median {statistics.median(xs):.2f} / max {max(xs):.2f}"


def main():
    a = parse_args()
    for path, what in ((a.server, "--server"), (a.polarity, "--polarity")):
        if not os.access(path, os.X_OK) and not (what == "--polarity" and a.model and len(a.model) == 2):
            sys.exit(f"{what} {path} is missing: cargo build --release -p polarity-server -p polarity-cli")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    train_rows = read_tsv(os.path.join(a.data, "train.tsv"))
    dev_texts = [t for _, t in read_tsv(os.path.join(a.data, "dev.tsv"))]
    tmp = tempfile.mkdtemp(prefix="polarity-soak-")
    proc = None
    failures, warnings = [], []
    t_start = time.monotonic()
    try:
        # private copies of the binaries: a rebuild of target/release during the soak must not change them
        for name in ("server", "polarity"):
            src = getattr(a, name)
            if os.access(src, os.X_OK):
                dst = os.path.join(tmp, "bin-" + os.path.basename(src))
                shutil.copy2(src, dst)
                setattr(a, name, dst)
        # 1. artifacts
        half = len(train_rows) // 2
        models = list(a.model or [])
        for k, rows in enumerate((train_rows[:half], train_rows[half:])):
            if len(models) <= k:
                out = os.path.join(tmp, f"half{k}.plm")
                print(f"training {out} on {len(rows)} rows of train.tsv ...", flush=True)
                train(a.polarity, rows, os.path.join(tmp, f"half{k}.tsv"), out)
                models.append(out)
        digests = {open(m, "rb").read() for m in models}
        if len(digests) < 2:
            sys.exit("the two artifacts are identical: a swap would not change the served content")
        served = os.path.join(tmp, "served.plm")
        shutil.copyfile(models[0], served)
        lua = os.path.join(tmp, "post.lua")
        write_lua(lua, dev_texts)

        # 2. server
        port = free_port()
        log_path = os.path.join(tmp, "server.log")
        log = open(log_path, "w")
        cmd = [a.server, "--model", served, "--addr", f"127.0.0.1:{port}", "--poll-interval", str(a.poll_interval),
               "--request-timeout", str(a.request_timeout), "--header-timeout", str(a.header_timeout)]
        print("starting " + " ".join(cmd), flush=True)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=clean_env())
        wait_ready(port, proc)
        reloads0, statuses0 = metrics(port)

        # 3. the soak
        stop = threading.Event()
        polite, swaps, body_res, header_res, hostile = [], [], Results(), Results(), []
        slow_body = json.dumps({"text": "a slow client that never finishes sending this body " * 4}).encode()
        threads = [
            threading.Thread(target=polite_client, args=(port, stop, dev_texts, a.client_gap, polite), daemon=True),
            threading.Thread(target=swapper, args=(served, models, stop, a.swap_interval, swaps), daemon=True),
            threading.Thread(target=run_slow_clients, args=(port, a.slow_body, a.slow_header, a.seconds, slow_body, a,
                                                            body_res, header_res), daemon=True),
        ] + [threading.Thread(target=hostile_client, args=(port, stop, hostile), daemon=True) for _ in range(a.hostile)]
        load0 = os.getloadavg()[0]
        print(f"soak: {a.seconds} s, wrk -t{a.threads} -c{a.connections}, {a.slow_body} slow-body + {a.slow_header} "
              f"slow-header clients, a swap every {a.swap_interval} s, one polite client", flush=True)
        t0 = time.monotonic()
        for t in threads:
            t.start()
        wrk_cmd = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.seconds}s", "--timeout", "10s", "-s", lua,
                   f"http://127.0.0.1:{port}/predict"]
        wrk = subprocess.run(wrk_cmd, capture_output=True, text=True)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        soak_s = time.monotonic() - t0
        load1 = os.getloadavg()[0]
        time.sleep(2 * a.poll_interval + 0.5)  # let the server pick up the last swap
        alive = proc.poll() is None
        reloads, statuses = {}, {}
        health = None
        if alive:
            try:
                health = get(port, "/health")[0]
                reloads, statuses = metrics(port)
            except OSError as e:
                failures.append(f"server unreachable after the soak: {e}")
        else:
            failures.append(f"the server died (exit status {proc.returncode})")

        # 4. figures
        wtext = wrk.stdout
        wj = next((json.loads(l[8:]) for l in wtext.splitlines() if l.startswith("WRKJSON ")), None)
        if wrk.returncode != 0 or wj is None:
            failures.append(f"wrk failed ({wrk.returncode}): {wrk.stderr.strip()[-300:]}")
            wj = {}
        rps = re.search(r"Requests/sec:\s+([\d.]+)", wtext)
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", wtext)
        sockerr = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", wtext)
        non2xx = int(non2xx.group(1)) if non2xx else 0
        sockerr = tuple(int(x) for x in sockerr.groups()) if sockerr else (0, 0, 0, 0)

        delta = {s: statuses.get(s, 0) - statuses0.get(s, 0) for s in set(statuses) | set(statuses0)}
        server_5xx = sum(v for s, v in delta.items() if s.startswith("5"))
        rel_ok = reloads.get("success", 0) - reloads0.get("success", 0)
        rel_fail = reloads.get("failure", 0) - reloads0.get("failure", 0)

        def is_408(r):
            return r.get("status") == 408 and r.get("error_type") == "body_timeout" and r.get("json")

        def is_cut(r):
            return r.get("outcome") in ("eof", "reset", "response")
        b_408 = [r for r in body_res if is_408(r)]
        b_other = [r for r in body_res if not is_408(r)]
        h_cut = [r for r in header_res if is_cut(r)]
        h_other = [r for r in header_res if not is_cut(r)]
        h_status = {}
        for r in h_cut:
            key = str(r.get("status")) if r.get("status") else "no response"
            h_status[key] = h_status.get(key, 0) + 1

        p_lat = [r["latency"] * 1000 for r in polite]
        p_bad = [r for r in polite if r.get("status") != 200]
        versions = []
        for r in polite:
            v = r.get("version")
            if v and (not versions or versions[-1] != v):
                versions.append(v)

        if p_bad:
            failures.append(f"the well-behaved client saw {len(p_bad)} non-200 (first: {p_bad[0]})")
        if server_5xx:
            failures.append(f"the server answered {server_5xx:.0f} 5xx: {dict((s, v) for s, v in delta.items() if s.startswith('5'))}")
        hostile_bad = [(n, w) for n, w, _ in hostile if w]
        hostile_status = {}
        for _, _, st in hostile:
            if st:
                hostile_status[str(st)] = hostile_status.get(str(st), 0) + 1
        if hostile_bad:
            failures.append(f"{len(hostile_bad)} attacks got a wrong answer (first: {hostile_bad[0]})")
        if rel_fail:
            warnings.append(f"{rel_fail:.0f} reloads failed")
        if rel_ok != len(swaps):
            warnings.append(f"{len(swaps)} swaps but {rel_ok:.0f} successful reloads")
        if b_other:
            kinds = {}
            for r in b_other:
                k = f"{r.get('outcome')}/{r.get('status')}/{r.get('error_type')}"
                kinds[k] = kinds.get(k, 0) + 1
            warnings.append(f"{len(b_other)} slow-body attempts did not end in a JSON 408 body_timeout: {kinds}")
        if h_other:
            kinds = {}
            for r in h_other:
                kinds[r.get("outcome")] = kinds.get(r.get("outcome"), 0) + 1
            warnings.append(f"{len(h_other)} slow-header attempts were not disconnected: {kinds}")
        if sum(sockerr):
            warnings.append(f"wrk socket errors {sockerr}")
        if non2xx:
            warnings.append(f"wrk saw {non2xx} non-2xx responses")

        rows = [
            ("soak duration", f"{soak_s:.1f} s (wrk -t{a.threads} -c{a.connections} -d{a.seconds}s)"),
            ("wrk requests/s", rps.group(1) if rps else "–"),
            ("wrk requests", f"{wj.get('requests', '–')}"),
            ("wrk latency p50 / p99 / max", f"{wj.get('p50_ms', 0):.2f} / {wj.get('p99_ms', 0):.2f} / {wj.get('max_ms', 0):.1f} ms"),
            ("wrk non-2xx responses", f"{non2xx}"),
            ("wrk socket errors (connect / read / write / timeout)", " / ".join(map(str, sockerr))),
            ("hot swaps (tmp + os.replace)", f"{len(swaps)} (every {a.swap_interval:g} s, 2 artifacts)"),
            ("server reloads (/metrics) success / failure", f"{rel_ok:.0f} / {rel_fail:.0f}"),
            ("model version changes seen by the polite client", f"{max(0, len(versions) - 1)}"),
            ("server responses by status during the soak (/metrics)",
             ", ".join(f"{s}: {v:.0f}" for s, v in sorted(delta.items()) if v) or "–"),
            ("server 5xx", f"{server_5xx:.0f}"),
            (f"hostile clients ({a.hostile}, bench/attacks.py's server attacks in turn): sent / wrong answers",
             f"{len(hostile)} / {len(hostile_bad)}"),
            (f"slow-body clients ({a.slow_body}): attempts completed", f"{len(body_res)} (+{body_res.stalled_at_end} "
             "still stalled when the soak ended, closed by the test)"),
            ("slow-body: 408 body_timeout (JSON)", f"{len(b_408)} of {len(body_res)}"),
            ("slow-body: seconds to the 408", summarize([r["elapsed"] for r in b_408])),
            (f"slow-header clients ({a.slow_header}): attempts completed", f"{len(header_res)} (+{header_res.stalled_at_end} "
             "still stalled when the soak ended, closed by the test)"),
            ("slow-header: disconnected", f"{len(h_cut)} of {len(header_res)} ("
             + ", ".join(f"{k}: {v}" for k, v in sorted(h_status.items())) + ")" if h_cut else f"0 of {len(header_res)}"),
            ("slow-header: seconds to the disconnect", summarize([r["elapsed"] for r in h_cut])),
            ("polite client requests", f"{len(polite)}"),
            ("polite client non-200 (incl. connection errors)", f"{len(p_bad)}"),
            ("polite client latency p50 / p99 / max",
             f"{pct(p_lat, 50):.2f} / {pct(p_lat, 99):.2f} / {max(p_lat):.1f} ms" if p_lat else "–"),
            ("server alive at the end", f"{'yes' if alive else 'NO'} (/health {health})"),
        ]
        lines = [f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} cores (wrk, the slow clients and the "
                 f"server share them); loadavg {load0:.2f} before, {load1:.2f} after. Server: `polarity-server "
                 f"--poll-interval {a.poll_interval:g} --request-timeout {a.request_timeout:g} --header-timeout "
                 f"{a.header_timeout:g}` (other flags default, --max-concurrent-requests 512).", "",
                 "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in rows]
        lines.append("")
        lines.append("Result: " + ("**PASS**" if not failures else "**FAIL** — " + "; ".join(failures)))
        cut = delta.get("400", 0) - hostile_status.get("400", 0)
        lines.append("")
        lines.append("4xx by source: the hostile clients' answers by status "
                     + (", ".join(f"{k}: {v}" for k, v in sorted(hostile_status.items())) or "none")
                     + f"; the slow-body clients' 408s; {cut:.0f} responses 400 for the slow-body connections the test "
                     f"closes at the end ({body_res.stalled_at_end} were stalled mid-body then): a body cut short by the "
                     "client is answered 400 bad_request (\"could not read the body\"), which no client reads.")
        if warnings:
            lines.append("")
            lines.append("Notes: " + "; ".join(warnings) + ".")
        text = "\n".join(lines)
        print("\n" + text)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            f.write("# Soak test: load + hot swaps + slow clients\n\nMade by `python3 bench/soak.py"
                    + ("" if a.seconds == 60 else f" --seconds {a.seconds}") + f"` (total run {time.monotonic() - t_start:.0f} s "
                    "including training).\n\n" + text + "\n")
        if not alive:
            print("--- server log tail ---\n" + open(log_path).read()[-3000:], file=sys.stderr)
        panics = [l for l in open(log_path, errors="replace") if "panic" in l.lower()]
        if panics:
            print(f"server log has {len(panics)} panic lines, first: {panics[0].strip()}", file=sys.stderr)
        return 1 if failures else 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
