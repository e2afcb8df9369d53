#!/usr/bin/env python3
"""IAM checks against moto with IAM enforcement on (scripts/check-aws.sh runs this after `terraform apply`).

1. access: for each stage, assume exactly its Terraform-created role and probe the data bucket and the registry
   table. Every key pattern of the stage's access.json entry must work (GetObject on `get`, PutObject on `put`,
   including the stage's own outputs, read first for idempotency) and every other prefix must be denied, as
   must registry actions the stage does not list.
2. chain: run the four stages in order, each under its own role's credentials, with the stage runner
   `polarity pipeline stage <STAGE> <KEY> --store s3://B --registry dynamodb://T` (the same handler the Lambda
   runs), from examples/reviews.csv to a production model in the registry. Skipped (with a message) when the
   CLI has no `pipeline stage` subcommand.
3. dispatch: training past one Lambda. A second upload is ingested and processed; the train stage runs under the
   train function's role with the function's own environment (read back from moto: the task settings Terraform
   gave it) and a tiny POLARITY_TRAIN_MAX_ROWS. It must start the train task (moto records RunTask: list-tasks and
   describe-tasks show one task of the family, FARGATE, with POLARITY_TASK_KEY = the key as container override);
   a redelivered event must start no second task. Then the task entry point (`polarity-fn-train` with
   POLARITY_TASK_KEY and the task definition's environment) runs locally under the task role and must write the
   version's manifest, which validate (under its role) then decides on.

moto evaluates the Action and Resource of IAM policies but not Condition blocks, so the `s3:prefix` condition
on ListBucket is not exercised here (terraform/tests/pipeline.tftest.hcl asserts it on the rendered policy).
Trust policies: moto 5.2.5 does evaluate a role's trust policy on sts:AssumeRole, and crashes (500) on one
whose Principal is a Service (ours name lambda.amazonaws.com). So, after Terraform's idempotency check, this
script replaces each stage role's TRUST policy with one naming the moto admin user; the role's permission
policy, the thing under test, is exactly what Terraform created.
Bucket policy: moto 5.2.5 evaluates only StringEquals conditions and ignores others, so the data bucket's
TLS-only statement (Deny unless aws:SecureTransport) denies every request, and moto speaks plain HTTP. The
script deletes that bucket policy (after the idempotency check) before probing.
DynamoDB: moto authorizes DynamoDB calls against the resource "*" (it resolves no table ARN), so the
Terraform statement scoped to the registry table's ARN can never match there. The script adds to each role a
statement allowing exactly that stage's `registry` actions on "*": the ACTIONS are still enforced per stage
(ingest is denied GetItem, nobody may DeleteItem), the table ARN is checked by the plan-time tests only.
moto also authorizes a TransactWriteItems call as the action dynamodb:TransactWriteItems, which IAM does not
have (AWS authorizes each contained Put/Update/ConditionCheck): that statement adds it for stages that may write.

ECS: moto authorizes ECS calls against the resource "*" too, and does not check iam:PassRole on RunTask. The script
copies the ECS actions of the train function role's Terraform policy (`start-train-task`) into a statement on "*":
without that policy the train role still cannot start a task, every other role is denied RunTask (probed), and
the family/cluster scoping and the PassRole condition are checked by the plan-time tests.
Lambda: once IAM is enforced, moto 5.2.5 answers every signed Lambda call with SignatureDoesNotMatch, so the train
function's environment comes from the Terraform state (--train-env; Terraform read it back from moto).
The train task role is retrusted and given its registry actions on "*" like the stage roles, and probed against
the train stage's access.json entry like them.

Only boto3 (from .venv-moto). Prints one line per check; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

PREFIXES = ["incoming/", "contracts/", "raw/", "quarantine/", "processed/", "datasets/", "models/", "decisions/",
            "artifacts/server/", "ops/monitoring/"]
REGION = "us-east-1"


def log(msg: str) -> None:
    print(f"  {msg}", flush=True)


def client(service: str, endpoint: str, creds: dict):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}), **creds)


def allowed(fn) -> bool:
    try:
        fn()
        return True
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "AccessDeniedException", "403"):
            return False
        raise


def probe_key(pattern_or_prefix: str) -> str:
    """A concrete key matching an IAM key pattern (or under a prefix)."""
    return pattern_or_prefix.replace("*", "probe") if "*" in pattern_or_prefix else pattern_or_prefix + "probe/x.json"


def matches(key: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)  # IAM's * matches '/' too, like fnmatch's


def retrust(iam, sts, role_arns: dict) -> None:
    """Let the admin assume the stage roles in moto (see the module docstring); permissions stay untouched."""
    me = sts.get_caller_identity()["Arn"]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": me}, "Action": "sts:AssumeRole"}]})
    for arn in role_arns.values():
        iam.update_assume_role_policy(RoleName=arn.rsplit("/", 1)[-1], PolicyDocument=doc)


def principals(roles: dict, task_role: str | None) -> dict:
    """{name: (role ARN, access.json stage entry it must match)}: the stage roles, and the train task's role."""
    out = {stage: (arn, stage) for stage, arn in roles.items()}
    if task_role:
        out["train-task"] = (task_role, "train")
    return out


def registry_actions_on_star(iam, who: dict, access: dict) -> None:
    """moto checks DynamoDB actions against resource "*" (see the module docstring)."""
    for arn, stage in who.values():
        actions = list(access["stages"][stage]["registry"])
        if {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"} & set(actions):
            actions.append("dynamodb:TransactWriteItems")  # moto's name for the transaction (see above)
        if actions:
            iam.put_role_policy(RoleName=arn.rsplit("/", 1)[-1], PolicyName="moto-dynamodb-resource-star",
                                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                    {"Effect": "Allow", "Action": actions, "Resource": "*"}]}))


def ecs_actions_on_star(iam, train_role_arn: str) -> list[str]:
    """moto checks ECS actions against resource "*" (see the module docstring): copy the ECS actions of the train
    role's Terraform policy onto "*" (none when Terraform gave it none)."""
    name = train_role_arn.rsplit("/", 1)[-1]
    try:
        doc = iam.get_role_policy(RoleName=name, PolicyName="start-train-task")["PolicyDocument"]
    except ClientError:
        return []
    doc = json.loads(doc) if isinstance(doc, str) else doc
    actions = sorted({a for st in doc["Statement"] if st["Effect"] == "Allow"
                      for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"]) if a.startswith("ecs:")})
    if actions:
        iam.put_role_policy(RoleName=name, PolicyName="moto-ecs-resource-star", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return actions


def may_run_task(ecs, cluster: str) -> bool:
    """Whether RunTask is authorised: a definition that does not exist fails after authorisation, so nothing starts."""
    try:
        ecs.run_task(cluster=cluster, taskDefinition="polarity-probe-does-not-exist", launchType="FARGATE")
        return True
    except ClientError as e:
        return e.response.get("Error", {}).get("Code", "") not in ("AccessDenied", "AccessDeniedException", "403")


def assume(sts, role_arn: str, stage: str) -> dict:
    c = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"check-{stage}")["Credentials"]
    return {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"]}


def check_access(a, admin: dict, who: dict, access: dict) -> int:
    s3_admin = client("s3", a.endpoint, admin)
    sts = client("sts", a.endpoint, admin)
    checks = 0
    for name in sorted(who):
        role_arn, stage = who[name]
        entry = access["stages"][stage]
        creds = assume(sts, role_arn, name)
        s3 = client("s3", a.endpoint, creds)
        ddb = client("dynamodb", a.endpoint, creds)
        keys = sorted({probe_key(p) for p in entry["get"] + entry["put"]} | {probe_key(p) for p in PREFIXES})
        for key in keys:
            s3_admin.put_object(Bucket=a.bucket, Key=key, Body=b"{}")
            want_get, want_put = matches(key, entry["get"]), matches(key, entry["put"])
            got_get = allowed(lambda: s3.get_object(Bucket=a.bucket, Key=key)["Body"].read())
            got_put = allowed(lambda: s3.put_object(Bucket=a.bucket, Key=key, Body=b"{}"))
            if (got_get, got_put) != (want_get, want_put):
                print(f"FAIL {name}: {key}: GetObject {'allowed' if got_get else 'denied'} (want "
                      f"{'allowed' if want_get else 'denied'}), PutObject {'allowed' if got_put else 'denied'} "
                      f"(want {'allowed' if want_put else 'denied'})", file=sys.stderr)
                return 1
            checks += 2
        for pattern in entry["put"]:  # the idempotency read: a stage reads its own output first
            if not matches(probe_key(pattern), entry["get"]):
                print(f"FAIL {name}: may write {pattern} but not read it back", file=sys.stderr)
                return 1
        for action, call in [
            ("dynamodb:GetItem", lambda: ddb.get_item(TableName=a.table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})),
            ("dynamodb:Query", lambda: ddb.query(TableName=a.table, KeyConditionExpression="pk = :p",
                                                 ExpressionAttributeValues={":p": {"S": "x"}})),
            ("dynamodb:DeleteItem", lambda: ddb.delete_item(TableName=a.table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})),
        ]:
            want = action in entry["registry"]
            got = allowed(call)
            if got != want:
                print(f"FAIL {name}: {action} {'allowed' if got else 'denied'}, want {'allowed' if want else 'denied'}",
                      file=sys.stderr)
                return 1
            checks += 1
        extra = ""
        if a.train_task:  # only the train FUNCTION may start the train task
            want, got = name == "train", may_run_task(client("ecs", a.endpoint, creds), a.train_task["cluster"])
            if got != want:
                print(f"FAIL {name}: ecs:RunTask {'allowed' if got else 'denied'}, want {'allowed' if want else 'denied'}",
                      file=sys.stderr)
                return 1
            checks += 1
            extra = f"; RunTask {'allowed' if got else 'denied'}"
        log(f"ok   {name}: role {role_arn.rsplit('/', 1)[-1]} may get {len(entry['get'])} and put "
            f"{len(entry['put'])} key patterns (its own outputs readable), everything else denied; registry "
            f"{[r.split(':')[1] for r in entry['registry']] or 'none'}{extra}")
    # leave the bucket as the chain expects it: no probe objects
    for page in s3_admin.get_paginator("list_object_versions").paginate(Bucket=a.bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3_admin.delete_object(Bucket=a.bucket, Key=v["Key"], VersionId=v["VersionId"])
    log(f"ok   {checks} allow/deny probes matched access.json")
    return 0


def newest_key(s3, bucket: str, prefix: str, suffix: str) -> str | None:
    objs = [o for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in p.get("Contents", []) if o["Key"].endswith(suffix)]
    return max(objs, key=lambda o: o["LastModified"])["Key"] if objs else None


def run_stage(a, stage: str, key: str, creds: dict, extra_env: dict | None = None, cmd: list[str] | None = None,
              role: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POLARITY_"))}
    env.update(extra_env or {})
    env.update({"AWS_ENDPOINT_URL": a.endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": creds["aws_access_key_id"], "AWS_SECRET_ACCESS_KEY": creds["aws_secret_access_key"],
                "AWS_SESSION_TOKEN": creds["aws_session_token"]})
    cmd = cmd or [a.cli, "pipeline", "stage", stage, key, "--store", f"s3://{a.bucket}", "--registry",
                  f"dynamodb://{a.table}"]
    role = role or stage
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        print(f"FAIL {stage} on {key} under role {role} (exit {p.returncode}):\n{p.stdout}\n{p.stderr}", file=sys.stderr)
        raise SystemExit(1)
    try:
        outcome = json.loads(p.stdout)
        shown = json.dumps(outcome, separators=(",", ":"))
    except ValueError:
        outcome = {}
        shown = p.stdout.strip().replace("\n", " ")
    log(f"ok   {stage} {key} as role {role} in {time.time() - t0:.1f} s: {shown[:140]}")
    return outcome


def check_chain(a, admin: dict, roles: dict) -> int:
    try:
        runner_ok = subprocess.run([a.cli, "pipeline", "stage", "--help"], capture_output=True, text=True,
                                   timeout=60).returncode == 0
    except OSError:
        runner_ok = False
    if not runner_ok:
        log(f"SKIP chain: `{a.cli} pipeline stage --help` failed (stage runner not built or not there yet)")
        return 0
    s3_admin = client("s3", a.endpoint, admin)
    sts = client("sts", a.endpoint, admin)
    ddb_admin = client("dynamodb", a.endpoint, admin)
    s3_admin.upload_file(a.example, a.bucket, "incoming/reviews.csv")
    run_stage(a, "ingest", "incoming/reviews.csv", assume(sts, roles["ingest"], "ingest"))
    raw = newest_key(s3_admin, a.bucket, "raw/", "/manifest.json")
    if not raw:
        print("FAIL ingest wrote no raw/<dataset>/manifest.json", file=sys.stderr)
        return 1
    run_stage(a, "process", raw, assume(sts, roles["process"], "process"))
    processed = newest_key(s3_admin, a.bucket, "processed/", "/manifest.json")
    if not processed:
        print("FAIL process wrote no processed/<dataset>/manifest.json", file=sys.stderr)
        return 1
    run_stage(a, "train", processed, assume(sts, roles["train"], "train"))
    model = newest_key(s3_admin, a.bucket, "models/", "/manifest.json")
    if not model:
        print("FAIL train wrote no models/<version>/manifest.json", file=sys.stderr)
        return 1
    run_stage(a, "validate", model, assume(sts, roles["validate"], "validate"))
    item = ddb_admin.get_item(TableName=a.table, Key={"pk": {"S": "POINTER"}, "sk": {"S": "PRODUCTION"}}).get("Item")
    if not item:
        print("FAIL no production pointer (pk=POINTER, sk=PRODUCTION) in the registry after validate", file=sys.stderr)
        return 1
    log(f"ok   registry has a production model: {json.dumps(item)[:200]}")
    return 0


def check_dispatch(a, admin: dict, roles: dict) -> int:
    """Training past one Lambda, under the roles (see the module docstring, 3.)."""
    if not (os.path.exists(a.task_bin) and a.train_task):
        log(f"SKIP dispatch: {a.task_bin} is not built (cargo build -p polarity-functions) or no --train-task given")
        return 0
    s3_admin = client("s3", a.endpoint, admin)
    sts = client("sts", a.endpoint, admin)
    ecs_admin = client("ecs", a.endpoint, admin)
    t = a.train_task
    # a second dataset (the first 1500 rows of the example), ingested and processed under their roles
    part = os.path.join(os.path.dirname(os.path.abspath(a.admin)), "reviews-part.csv")
    with open(a.example) as src, open(part, "w") as dst:
        dst.writelines(line for i, line in zip(range(1501), src))
    s3_admin.upload_file(part, a.bucket, "incoming/reviews-part.csv")
    before = {o["Key"] for p in s3_admin.get_paginator("list_objects_v2").paginate(Bucket=a.bucket, Prefix="processed/")
              for o in p.get("Contents", [])}
    run_stage(a, "ingest", "incoming/reviews-part.csv", assume(sts, roles["ingest"], "ingest"))
    raw = newest_key(s3_admin, a.bucket, "raw/", "/manifest.json")
    run_stage(a, "process", raw, assume(sts, roles["process"], "process"))
    processed = newest_key(s3_admin, a.bucket, "processed/", "/manifest.json")
    if not processed or processed in before:
        print("FAIL process wrote no new processed/<dataset>/manifest.json for the second upload", file=sys.stderr)
        return 1

    # the train function's own environment, as Terraform set it (from its state: see the module docstring), with a
    # tiny limit
    fn_env = dict(a.train_env or {})
    want = {"POLARITY_TASK_CLUSTER": t["cluster"], "POLARITY_TASK_DEFINITION": t["family"]}
    if any(fn_env.get(k) != v for k, v in want.items()) or not fn_env.get("POLARITY_TASK_SUBNETS") \
            or not fn_env.get("POLARITY_TASK_SECURITY_GROUPS") or not fn_env.get("POLARITY_TRAIN_MAX_ROWS"):
        print(f"FAIL the train function's environment lacks the task settings: {fn_env}", file=sys.stderr)
        return 1
    log(f"ok   train function environment: POLARITY_TRAIN_MAX_ROWS={fn_env['POLARITY_TRAIN_MAX_ROWS']} (Terraform's "
        f"rule), task {fn_env['POLARITY_TASK_DEFINITION']} on {fn_env['POLARITY_TASK_CLUSTER']}; now with "
        f"POLARITY_TRAIN_MAX_ROWS=10")
    fn_env["POLARITY_TRAIN_MAX_ROWS"] = "10"
    train = roles["train"]

    def dispatched(outcome: dict) -> dict:
        out = outcome.get("outcomes") or [{}]
        if out[0].get("stage") != "dispatched":
            print(f"FAIL train above the limit did not dispatch: {outcome}", file=sys.stderr)
            raise SystemExit(1)
        return out[0]

    first = dispatched(run_stage(a, "train", processed, assume(sts, train, "train"), extra_env=fn_env))
    arns = ecs_admin.list_tasks(cluster=t["cluster"])["taskArns"]
    if arns != [first["task_arn"]]:
        print(f"FAIL want exactly the dispatched task {first['task_arn']} in {t['cluster']}, moto lists {arns}",
              file=sys.stderr)
        return 1
    task = ecs_admin.describe_tasks(cluster=t["cluster"], tasks=arns)["tasks"][0]
    overrides = {e["name"]: e["value"] for c in task.get("overrides", {}).get("containerOverrides", [])
                 for e in c.get("environment", [])}
    if overrides.get("POLARITY_TASK_KEY") != processed or task.get("launchType") != "FARGATE" \
            or f"task-definition/{t['family']}:" not in task.get("taskDefinitionArn", ""):
        print(f"FAIL the task does not run the family on FARGATE with POLARITY_TASK_KEY={processed}: {task}",
              file=sys.stderr)
        return 1
    subnets = {d["value"] for at in task.get("attachments", []) for d in at.get("details", []) if d["name"] == "subnetId"}
    if not subnets or not subnets <= set(fn_env["POLARITY_TASK_SUBNETS"].split(",")):
        print(f"FAIL the task is not in the function's subnets {fn_env['POLARITY_TASK_SUBNETS']}: {subnets}",
              file=sys.stderr)
        return 1
    log(f"ok   RunTask recorded by moto: {task['taskArn'].rsplit('/', 1)[-1]} of {t['family']} on FARGATE in "
        f"{','.join(sorted(subnets))}, POLARITY_TASK_KEY={processed}")
    again = dispatched(run_stage(a, "train", processed, assume(sts, train, "train"), extra_env=fn_env))
    arns = ecs_admin.list_tasks(cluster=t["cluster"])["taskArns"]
    if not again.get("already") or len(arns) != 1:
        print(f"FAIL a redelivered event: already={again.get('already')}, {len(arns)} task(s)", file=sys.stderr)
        return 1
    log("ok   redelivered event: already dispatched, still one task")

    # the task entry point, locally, under the task role, with the task definition's environment
    td = ecs_admin.describe_task_definition(taskDefinition=t["family"])["taskDefinition"]
    task_env = {e["name"]: e["value"] for e in td["containerDefinitions"][0].get("environment", [])}
    task_env.update(overrides)
    run_stage(a, "train", processed, assume(sts, t["task_role_arn"], "train-task"), extra_env=task_env,
              cmd=[a.task_bin], role="train-task (task entry point)")
    model = layout_model(first["version"])
    if not any(o["Key"] == model for o in s3_admin.list_objects_v2(Bucket=a.bucket, Prefix=model).get("Contents", [])):
        print(f"FAIL the task entry point wrote no {model}", file=sys.stderr)
        return 1
    log(f"ok   the task wrote {model}")
    decision = run_stage(a, "validate", model, assume(sts, roles["validate"], "validate"))
    verdict = (decision.get("outcomes") or [{}])[0].get("verdict")
    log(f"ok   validate decided on the task's version: {verdict}")
    return 0


def layout_model(version: str) -> str:
    return f"models/{version}/manifest.json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["access", "chain", "dispatch"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--roles", required=True, help="JSON {stage: role ARN} (terraform output -json stage_role_arns)")
    ap.add_argument("--admin", required=True, help="file with 'KEY_ID SECRET' of the moto admin user")
    ap.add_argument("--access", required=True, help="terraform/access.json")
    ap.add_argument("--cli", default="target/debug/polarity")
    ap.add_argument("--example", default="examples/reviews.csv")
    ap.add_argument("--train-task", type=json.loads, default=None,
                    help="JSON of `terraform output -json train_task` (cluster, family, task_role_arn, ...)")
    ap.add_argument("--train-env", type=json.loads, default=None,
                    help="JSON of the train function's environment variables (from the Terraform state)")
    ap.add_argument("--task-bin", default="target/debug/polarity-fn-train")
    a = ap.parse_args()
    key_id, secret = open(a.admin).read().split()
    admin = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    roles = json.loads(a.roles)
    access = json.load(open(a.access))

    # IAM is enforced: the default moto credentials must now be rejected, or nothing below means anything.
    try:
        client("s3", a.endpoint, {"aws_access_key_id": "test", "aws_secret_access_key": "test"}).list_objects_v2(Bucket=a.bucket)
        enforced = False
    except ClientError:
        enforced = True
    if not enforced:
        print("FAIL moto is not enforcing IAM (the default 'test' credentials were accepted)", file=sys.stderr)
        return 1
    who = principals(roles, (a.train_task or {}).get("task_role_arn"))
    iam = client("iam", a.endpoint, admin)
    retrust(iam, client("sts", a.endpoint, admin), {name: arn for name, (arn, _) in who.items()})
    registry_actions_on_star(iam, who, access)
    ecs_actions_on_star(iam, roles["train"])
    client("s3", a.endpoint, admin).delete_bucket_policy(Bucket=a.bucket)  # see the module docstring
    if a.mode == "access":
        return check_access(a, admin, who, access)
    if a.mode == "dispatch":
        return check_dispatch(a, admin, roles)
    return check_chain(a, admin, roles)


if __name__ == "__main__":
    sys.exit(main())
