#!/usr/bin/env python3
"""Relay S3 events from per-stage SQS queues to `cargo lambda watch` (the `sqs` mode of localstack/init.sh).

moto (and LocalStack without Docker) cannot invoke a Lambda, but both deliver S3 notifications to SQS. This
polls `polarity-<stage>-events`, repairs each event into the shape AWS sends to Lambda, and POSTs it to
    http://127.0.0.1:9009/2015-03-31/functions/polarity-fn-<stage>/invocations
Success (2xx without an `X-Amz-Function-Error` header) deletes the message. A failure makes it visible again
after --retry-delay seconds; after 1 + --max-retries attempts (AWS's async-invoke default is 2 retries) the event
goes to `polarity-pipeline-failures` with the error, like the on-failure destination in AWS.

Repairs: drops `s3:TestEvent` messages; adds `userIdentity`, `requestParameters` and `responseElements` (moto
omits them, aws_lambda_events requires them); re-encodes the key the way AWS does (`+` for space, `/` kept).

Needs boto3 (`.venv-moto/bin/python localstack/relay.py`, boto3 comes with moto). Endpoints from
AWS_ENDPOINT_URL (default http://127.0.0.1:4566).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3

STAGES = ["ingest", "process", "train", "validate"]
FAILURE_QUEUE = "polarity-pipeline-failures"
log = logging.getLogger("relay")


def aws_shaped(record: dict) -> dict:
    """One S3 event record as AWS delivers it to Lambda."""
    r = dict(record)
    r.setdefault("eventVersion", "2.1")
    r.setdefault("eventSource", "aws:s3")
    r.setdefault("awsRegion", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    r.setdefault("userIdentity", {"principalId": "local"})
    r.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    r.setdefault("responseElements", {"x-amz-request-id": "local", "x-amz-id-2": "local"})
    s3 = dict(r.get("s3", {}))
    obj = dict(s3.get("object", {}))
    if "key" in obj:
        # moto encodes "/" as %2F; AWS encodes like form data but keeps "/".
        obj["key"] = urllib.parse.quote_plus(urllib.parse.unquote_plus(obj["key"]), safe="/")
    s3["object"] = obj
    s3.setdefault("s3SchemaVersion", "1.0")
    r["s3"] = s3
    return r


def invoke(url: str, event: dict, timeout: float) -> str | None:
    """POST the event; None on success, else the error text."""
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read().decode(errors="replace")
            if resp.headers.get("X-Amz-Function-Error"):
                return f"function error: {body[:500]}"
            try:
                doc = json.loads(body) if body else None
            except ValueError:
                doc = None
            if isinstance(doc, dict) and "errorType" in doc and "errorMessage" in doc:
                return f"{doc['errorType']}: {doc['errorMessage']}"
            return None
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}: {e.read().decode(errors='replace')[:500]}"
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        return f"unreachable: {e}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    ap.add_argument("--invoke-base", default="http://127.0.0.1:9009/2015-03-31/functions",
                    help="cargo lambda watch's invoke API (functions are polarity-fn-<stage>)")
    ap.add_argument("--function-template", default="polarity-fn-{stage}")
    ap.add_argument("--max-retries", type=int, default=2)
    ap.add_argument("--retry-delay", type=int, default=10, help="seconds before a failed event is retried")
    ap.add_argument("--invoke-timeout", type=float, default=900.0, help="the first invoke compiles the function")
    ap.add_argument("--exit-when-idle", type=float, default=0.0,
                    help="exit after this many seconds without messages (0: run forever)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s relay %(message)s")

    for var, default in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(var, default)
    sqs = boto3.client("sqs", endpoint_url=args.endpoint)
    queues = {s: sqs.get_queue_url(QueueName=f"polarity-{s}-events")["QueueUrl"] for s in STAGES}
    failures = sqs.get_queue_url(QueueName=FAILURE_QUEUE)["QueueUrl"]
    log.info("polling %s for %s", args.endpoint, ", ".join(queues))

    idle_since = time.monotonic()
    while True:
        got = 0
        for stage, qurl in queues.items():
            resp = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       AttributeNames=["ApproximateReceiveCount"])
            for m in resp.get("Messages", []):
                got += 1
                body = json.loads(m["Body"])
                if body.get("Event") == "s3:TestEvent" or "Records" not in body:
                    sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
                    continue
                event = {"Records": [aws_shaped(r) for r in body["Records"]]}
                keys = [r["s3"]["object"].get("key") for r in event["Records"]]
                fn = args.function_template.format(stage=stage)
                err = invoke(f"{args.invoke_base}/{fn}/invocations", event, args.invoke_timeout)
                attempt = int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
                if err is None:
                    log.info("%s <- %s ok", fn, keys)
                    sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
                elif attempt > args.max_retries:
                    log.error("%s <- %s failed %d times, to %s: %s", fn, keys, attempt, FAILURE_QUEUE, err)
                    sqs.send_message(QueueUrl=failures, MessageBody=json.dumps(
                        {"function": fn, "attempts": attempt, "error": err, "event": event}))
                    sqs.delete_message(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"])
                else:
                    log.warning("%s <- %s attempt %d failed, retry in %ds: %s", fn, keys, attempt, args.retry_delay, err)
                    sqs.change_message_visibility(QueueUrl=qurl, ReceiptHandle=m["ReceiptHandle"],
                                                  VisibilityTimeout=args.retry_delay)
        now = time.monotonic()
        if got:
            idle_since = now
        elif args.exit_when_idle and now - idle_since > args.exit_when_idle:
            return 0
        if not got:
            time.sleep(0.5)


if __name__ == "__main__":
    raise SystemExit(main())
