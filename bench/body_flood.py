#!/usr/bin/env python3
"""Body flood against polarity-server: many connections each declare a large body and send all of it but one
byte, then wait. Measures the server's resident memory while they hold (VmRSS, VmHWM), after they all close,
and what each connection was answered (503 `busy` at once when over --max-buffered-bytes, or nothing while
its body is held).

Usage (from the repo root, after cargo build --release -p polarity-server):
  python3 bench/body_flood.py [--server target/release/polarity-server] [--connections 1200] [--body 1048576]
      [--model /tmp/sst2.plm] [-- extra server flags]
Prints one markdown row; Python standard library only.
"""
import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--server", default=os.path.join(ROOT, "target", "release", "polarity-server"))
ap.add_argument("--model", default="/tmp/sst2.plm")
ap.add_argument("--connections", type=int, default=1200)
ap.add_argument("--body", type=int, default=1 << 20, help="declared body bytes per connection")
ap.add_argument("--hold", type=float, default=3.0, help="seconds to hold the bodies before closing")
ap.add_argument("extra", nargs="*", help="extra server flags (after --)")
a = ap.parse_args()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def mem(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) / 1024
    return out


async def one(port, answers):
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        answers.append(f"connect error {e.errno}")
        return None
    w.write(f"POST /predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {a.body}\r\n\r\n"
            .encode())
    chunk = b" " * 65536
    left = a.body - 1
    try:
        while left > 0:
            w.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
            await w.drain()
    except (ConnectionError, OSError):
        pass
    return r, w


async def main():
    port = free_port()
    cmd = [a.server, "--model", a.model, "--addr", f"127.0.0.1:{port}", "--request-timeout", "60", *a.extra]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        base = mem(p.pid)
        answers = []
        t0 = time.time()
        conns = await asyncio.gather(*(one(port, answers) for _ in range(a.connections)))
        sent = time.time() - t0
        await asyncio.sleep(a.hold)
        during = mem(p.pid)
        codes = {}
        for c in conns:
            if c is None:
                continue
            r, _ = c
            try:
                head = await asyncio.wait_for(r.read(512), 0.05)
                code = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.1") else "closed"
                if b'"busy"' in head:
                    code += " busy"
            except asyncio.TimeoutError:
                code = "waiting"
            except (ConnectionError, OSError):
                code = "reset"
            codes[code] = codes.get(code, 0) + 1
        for c in conns:
            if c is not None:
                c[1].close()
        await asyncio.sleep(3)
        after = mem(p.pid)
        alive = p.poll() is None
        print("| server | connections x body | sent in | RSS before | RSS holding | peak (HWM) | RSS 3 s after close | answers | alive |")
        print("|---|---|---:|---:|---:|---:|---:|---|---|")
        print(f"| {os.path.basename(a.server)} {' '.join(a.extra)} | {a.connections} x {a.body} | {sent:.1f} s | "
              f"{base['VmRSS']:.0f} MB | {during['VmRSS']:.0f} MB | {after['VmHWM']:.0f} MB | {after['VmRSS']:.0f} MB | "
              + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())) + f" | {'yes' if alive else 'NO'} |")
    finally:
        p.terminate()
        p.wait()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
