#!/usr/bin/env python3
"""The second plan against moto must change nothing, except where moto stores or answers an attribute
differently from AWS (each listed here with what moto does). Reads `terraform show -json <plan>` on stdin;
prints what it allowed and exits 1 on any other change.
"""
import json
import sys

# (resource type, attribute) -> what moto 5 does differently from AWS
MOTO_DIFFERENCES = {
    ("aws_vpc_security_group_ingress_rule", "referenced_security_group_id"):
        "moto answers a same-account group reference as <account>/<group id>",
    ("aws_vpc_security_group_egress_rule", "referenced_security_group_id"):
        "moto answers a same-account group reference as <account>/<group id>",
    ("aws_vpc_security_group_ingress_rule", "description"):
        "moto drops the description of a rule that references another group",
    ("aws_vpc_security_group_egress_rule", "description"):
        "moto drops the description of a rule that references another group",
    ("aws_instance", "vpc_security_group_ids"):
        "moto's DescribeInstances omits the groups of an instance launched into a subnet with them",
    ("aws_autoscaling_group", "default_instance_warmup"):
        "moto does not store an auto scaling group's DefaultInstanceWarmup",
    ("aws_autoscaling_policy", "enabled"):
        "moto does not store a scaling policy's Enabled flag",
}

def empty(v):
    if isinstance(v, list):
        return all(empty(x) for x in v)
    if isinstance(v, dict):
        return all(empty(x) for x in v.values())
    return v in (None, "")


def differ(a, b):
    # Terraform shows no change between an absent, null or empty value: neither does this
    return not (empty(a) and empty(b)) and a != b


plan = json.load(sys.stdin)
allowed, bad = [], []
for rc in plan.get("resource_changes", []):
    actions = rc["change"]["actions"]
    if actions in (["no-op"], ["read"]):
        continue
    before, after = rc["change"].get("before") or {}, rc["change"].get("after") or {}
    changed = sorted(k for k in set(before) | set(after) if differ(before.get(k), after.get(k))
                     and k not in rc["change"].get("after_unknown", {}))
    if actions == ["update"] and changed and all((rc["type"], k) in MOTO_DIFFERENCES for k in changed):
        allowed.append((rc["address"], rc["type"], changed))
    else:
        bad.append((rc["address"], actions, changed))
for addr, typ, keys in allowed:
    for k in keys:
        print(f"  moto difference: {addr}.{k}: {MOTO_DIFFERENCES[(typ, k)]}")
for addr, actions, keys in bad:
    print(f"  CHANGE: {addr} {'/'.join(actions)} {', '.join(keys)}", file=sys.stderr)
print(f"second plan: {len(bad)} changes, {len(allowed)} resources differing only where moto differs from AWS")
sys.exit(1 if bad else 0)
