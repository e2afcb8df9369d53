#!/usr/bin/env python3
"""Boots the servers' user-data offline, as an instance of the launch template Terraform applied to moto would.

1. The launch template's user-data is read back from moto (what Terraform rendered, not the template) and
   checked with shellcheck; the API key's value must not be in it.
2. It runs with bash in a sandbox: its absolute paths (/opt/polarity, /etc/polarity, /etc/systemd/system) are
   moved under a scratch root, `useradd`/`id` are recorded, `systemctl` is a stand-in that records its calls
   and, on `enable --now polarity-server.service`, starts the unit's ExecStart with the unit's Environment= and
   EnvironmentFile= settings (the listen address moved to a free 127.0.0.1 port, the original recorded). The
   AWS CLI and the server find moto through AWS_ENDPOINT_URL and get credentials from a stand-in for the
   instance metadata service (IMDSv2: a token, then the role's credentials), as on EC2.
3. Checks: the binary was fetched from S3 and its checksum verified, the API key is in the root-only env file,
   the unit has the settings Terraform meant (store, registry, region, port), /health answers 200, /predict
   without the key is 401. Then again with a corrupted binary at the artifact key: the boot must stop at the
   checksum with a clear line, before any systemctl call.

Usage: boot_check.py --endpoint URL --launch-template ID --bucket B --table T --binary PATH --api-key-parameter P
       --admin FILE (the moto admin's key id and secret) --expect-key VALUE
"""
import argparse
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--endpoint", required=True)
ap.add_argument("--launch-template", required=True)
ap.add_argument("--bucket", required=True)
ap.add_argument("--table", required=True)
ap.add_argument("--binary", required=True)
ap.add_argument("--api-key-parameter", required=True)
ap.add_argument("--expect-key", required=True)
ap.add_argument("--admin", required=True)
ap.add_argument("--aws", default="aws")
ap.add_argument("--monitoring-instance", help="also shellcheck this instance's user-data (the monitoring host)")
a = ap.parse_args()
KEY_ID, SECRET = open(a.admin).read().split()
ADMIN_ENV = {**os.environ, "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1"}


def aws(*args, **kw):
    return subprocess.run([a.aws, "--endpoint-url", a.endpoint, *args], env=ADMIN_ENV, check=True,
                          capture_output=True, text=True, **kw).stdout


def fail(msg):
    print(f"boot-check: FAIL {msg}", file=sys.stderr)
    sys.exit(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# --- the instance metadata service stand-in (IMDSv2) ---------------------------------------------------------
class Imds(http.server.BaseHTTPRequestHandler):
    token = "imds-token-0123"
    calls = []

    def log_message(self, *_):
        pass

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def do_PUT(self):
        Imds.calls.append(("PUT", self.path))
        ok = self.path == "/latest/api/token" and self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200 if ok else 400, Imds.token if ok else "")

    def do_GET(self):
        Imds.calls.append(("GET", self.path))
        if self.headers.get("x-aws-ec2-metadata-token") != Imds.token:
            return self.reply(401, "")  # IMDSv2 only (http_tokens = required)
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.reply(200, "polarity-server")
        if self.path == base + "polarity-server":
            return self.reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": KEY_ID, "SecretAccessKey": SECRET,
                "Token": "session", "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
        if self.path == "/latest/meta-data/placement/region":
            return self.reply(200, "us-east-1")
        self.reply(404, "")


imds = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Imds)
threading.Thread(target=imds.serve_forever, daemon=True).start()
IMDS = f"http://127.0.0.1:{imds.server_address[1]}"

# --- 1. the rendered user-data -----------------------------------------------------------------------------------
lt = json.loads(aws("ec2", "describe-launch-template-versions", "--launch-template-id", a.launch_template,
                    "--versions", "$Latest"))
user_data = base64.b64decode(lt["LaunchTemplateVersions"][0]["LaunchTemplateData"]["UserData"]).decode()
if a.expect_key in user_data:
    fail("the API key's value is in the user-data")
if a.api_key_parameter not in user_data:
    fail("the user-data does not name the API key parameter")
work = tempfile.mkdtemp(prefix="polarity-boot-")
script = os.path.join(work, "user-data.sh")
open(script, "w").write(user_data)
sc = subprocess.run(["shellcheck", "--shell=bash", "--severity=warning", script], capture_output=True, text=True)
if sc.returncode != 0:
    fail(f"shellcheck:\n{sc.stdout}{sc.stderr}")
if a.monitoring_instance:
    attr = json.loads(aws("ec2", "describe-instance-attribute", "--instance-id", a.monitoring_instance,
                          "--attribute", "userData"))
    mon = base64.b64decode(attr["UserData"]["Value"]).decode()
    mon_path = os.path.join(work, "monitoring-user-data.sh")
    open(mon_path, "w").write(mon)
    sc = subprocess.run(["shellcheck", "--shell=bash", "--severity=warning", mon_path], capture_output=True, text=True)
    if sc.returncode != 0:
        fail(f"shellcheck of the monitoring host's user-data:\n{sc.stdout}{sc.stderr}")
    print(f"  ok   the monitoring host's user-data ({len(mon)} bytes): shellcheck clean (it runs containers: not booted here)")
print(f"  ok   user-data of {a.launch_template} ({len(user_data)} bytes): shellcheck clean; names "
      f"{a.api_key_parameter}, never the key")

# --- 2. the sandbox ----------------------------------------------------------------------------------------------
PATHS = ["/opt/polarity", "/etc/polarity", "/etc/systemd/system"]
STANDIN = r'''#!/usr/bin/env python3
# systemctl stand-in: records the call; `enable --now <unit>` starts the unit's ExecStart with its settings.
import os, re, subprocess, sys
root = os.environ["BOOT_ROOT"]
open(os.path.join(root, "systemctl.log"), "a").write(" ".join(sys.argv[1:]) + "\n")
args = sys.argv[1:]
if args[:2] == ["enable", "--now"]:
    unit = open(os.path.join(root, "etc/systemd/system", args[2])).read()
    env = {"PATH": "/usr/bin:/bin"}
    for m in re.finditer(r"^Environment=([^=\n]+)=(.*)$", unit, re.M):
        env[m.group(1)] = m.group(2)
    envfile = re.search(r"^EnvironmentFile=-?(.+)$", unit, re.M).group(1)
    for line in open(envfile):
        k, _, v = line.rstrip("\n").partition("=")
        env[k] = v
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)
    open(os.path.join(root, "unit.env.json"), "w").write(__import__("json").dumps(env))
    env.update({"POLARITY_ADDR": os.environ["BOOT_ADDR"], "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"],
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    log = open(os.path.join(root, "server.log"), "w")
    p = subprocess.Popen(exec_start.split(), env=env, stdout=log, stderr=log, start_new_session=True)
    open(os.path.join(root, "server.pid"), "w").write(str(p.pid))
'''


def boot(label):
    """Runs the user-data in a fresh scratch root; returns (exit code, output, root, port)."""
    root = os.path.join(work, label)
    fake = os.path.join(root, "bin")
    os.makedirs(fake)
    text = user_data
    for p in PATHS:
        os.makedirs(root + p, exist_ok=True)
        text = text.replace(p, root + p)
    path = os.path.join(root, "user-data.sh")
    open(path, "w").write(text)
    for name, body in {
        "systemctl": STANDIN,
        "useradd": '#!/bin/sh\necho "useradd $*" >> "$BOOT_ROOT/users.log"\n',
        "id": '#!/bin/sh\ngrep -q "useradd.* $1$" "$BOOT_ROOT/users.log" 2>/dev/null\n',
        "aws": f'#!/bin/sh\nexec "{shutil.which(a.aws) or a.aws}" "$@"\n',
    }.items():
        f = os.path.join(fake, name)
        open(f, "w").write(body)
        os.chmod(f, 0o755)
    port = free_port()
    env = {"PATH": f"{fake}:/usr/bin:/bin", "BOOT_ROOT": root, "BOOT_ADDR": f"127.0.0.1:{port}",
           "AWS_ENDPOINT_URL": a.endpoint, "AWS_EC2_METADATA_SERVICE_ENDPOINT": IMDS,
           "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "HOME": root}
    r = subprocess.run(["bash", path], env=env, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stdout + r.stderr, root, port


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    c.request("GET" if path.startswith("/health") else "POST", path,
              body=None if path.startswith("/health") else '{"text": "great"}',
              headers={"content-type": "application/json", **(headers or {})})
    r = c.getresponse()
    body = r.read().decode()
    return r.status, body


# moto evaluates only StringEquals conditions, so the data bucket's TLS-only policy (Deny unless
# aws:SecureTransport) denies every request to its plain-HTTP endpoint; iam_check.py removes it the same way
aws("s3api", "delete-bucket-policy", "--bucket", a.bucket)
key = "artifacts/server/moto/polarity-server"
aws("s3", "cp", "--only-show-errors", a.binary, f"s3://{a.bucket}/{key}")
code, out, root, port = boot("good")
pid = None
try:
    if code != 0:
        fail(f"user-data exited {code}:\n{out}")
    calls = open(os.path.join(root, "systemctl.log")).read().split("\n")
    if calls[:2] != ["daemon-reload", "enable --now polarity-server.service"]:
        fail(f"systemctl calls: {calls}")
    installed = os.path.join(root, "opt/polarity/polarity-server")
    if open(installed, "rb").read() != open(a.binary, "rb").read() or not os.access(installed, os.X_OK):
        fail("the installed binary is not the artifact")
    envfile = os.path.join(root, "etc/polarity/server.env")
    if oct(os.stat(envfile).st_mode & 0o777) != "0o600" or oct(os.stat(root + "/etc/polarity").st_mode & 0o777) != "0o700":
        fail("the env file or its folder is not root-only")
    if open(envfile).read() != f"POLARITY_API_KEY={a.expect_key}\n":
        fail("the env file does not hold the API key from SSM")
    unit_env = json.load(open(os.path.join(root, "unit.env.json")))
    want = {"POLARITY_ADDR": "0.0.0.0:8080", "POLARITY_STORE": f"s3://{a.bucket}",
            "POLARITY_REGISTRY": f"dynamodb://{a.table}", "AWS_REGION": "us-east-1"}
    wrong = {k: unit_env.get(k) for k, v in want.items() if unit_env.get(k) != v}
    if wrong:
        fail(f"unit settings differ from what Terraform meant: {wrong}")
    pid = int(open(os.path.join(root, "server.pid")).read())
    deadline = time.time() + 30
    status = None
    while time.time() < deadline:
        try:
            status, _ = get(port, "/health")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    if status != 200:
        fail(f"/health: {status}\n{open(os.path.join(root, 'server.log')).read()[-3000:]}")
    no_key, _ = get(port, "/predict")
    with_key, body = get(port, "/predict", {"authorization": f"Bearer {a.expect_key}"})
    if no_key != 401 or with_key != 503 or "no_model" not in body:
        fail(f"/predict without the key {no_key} (want 401), with it {with_key} {body} (want 503 no_model: empty registry)")
    if not any(p == "/latest/api/token" for _, p in Imds.calls):
        fail("nothing asked the metadata service for credentials")
    print(f"  ok   boot: artifact fetched and its SHA-256 checked, API key from SSM into a 0600 env file, unit "
          f"{' '.join(f'{k}={v}' for k, v in want.items())}; polarity-server answers /health 200, /predict 401 "
          f"without the key, 503 no_model with it (credentials from the IMDSv2 stand-in, "
          f"{len(Imds.calls)} metadata calls)")
finally:
    if pid:
        try:
            os.killpg(pid, 15)
        except OSError:
            pass

# --- 3. a wrong checksum stops the boot ------------------------------------------------------------------------
bad = os.path.join(work, "corrupt.bin")
data = bytearray(open(a.binary, "rb").read())
data[len(data) // 2] ^= 0xFF
open(bad, "wb").write(data)
aws("s3", "cp", "--only-show-errors", bad, f"s3://{a.bucket}/{key}")
code, out, root, _ = boot("corrupt")
if code == 0:
    fail("the boot went on with a corrupted binary")
if os.path.exists(os.path.join(root, "systemctl.log")) or os.path.exists(os.path.join(root, "opt/polarity/polarity-server")):
    fail("a corrupted binary was installed or a unit started")
line = next((l for l in out.splitlines() if "FAILED" in l or "checksum" in l.lower()), None)
if not line:
    fail(f"no clear line about the checksum:\n{out}")
print(f"  ok   boot with a corrupted artifact stops at the checksum (exit {code}, nothing installed, no unit): {line.strip()}")
aws("s3", "cp", "--only-show-errors", a.binary, f"s3://{a.bucket}/{key}")
shutil.rmtree(work, ignore_errors=True)
