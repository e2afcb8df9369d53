#!/usr/bin/env bash
# Roll the server ASG to the newest launch template version and WAIT: exits 0 only when the instance refresh
# succeeded; a refresh that failed, was cancelled or rolled itself back exits 1 (CD fails, the ASG keeps the
# previous version).
#
# Why not Terraform's instance_refresh block (terraform-provider-aws#34189): Terraform first points the ASG at the
# new launch template version and then starts the refresh, so a failed refresh "rolls back" to the new, broken
# version. Here the ASG keeps its current version (Terraform ignores it after creation) and the refresh carries
# the new one as DesiredConfiguration, which AWS applies to the group only on success; AutoRollback (which
# requires a DesiredConfiguration and a numbered version, never $Latest/$Default) restores the replaced
# instances otherwise. The unhealthy-host alarm (target group /health) also triggers the rollback.
#
#   terraform/deploy/instance-refresh.sh            # reads the outputs of terraform/ (run after apply)
#   ASG=... LT_ID=... LT_VERSION=... ALARM=... terraform/deploy/instance-refresh.sh
# Needs the AWS CLI v2 and credentials allowed autoscaling:{Describe*,StartInstanceRefresh}.
set -euo pipefail

TF_DIR="${TF_DIR:-$(cd "$(dirname "$0")/.." && pwd)}"
out() { terraform -chdir="$TF_DIR" output -raw "$1"; }
ASG="${ASG:-$(out asg_name)}"
LT_ID="${LT_ID:-$(out launch_template_id)}"
LT_VERSION="${LT_VERSION:-$(out launch_template_version)}"
ALARM="${ALARM:-$(out rollback_alarm_name)}"
TIMEOUT="${REFRESH_TIMEOUT_SECONDS:-3600}"
POLL="${REFRESH_POLL_SECONDS:-20}"

current="$(aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$ASG" \
  --query 'AutoScalingGroups[0].LaunchTemplate.Version' --output text)"
if [ "$current" = "$LT_VERSION" ]; then
  echo "instance-refresh: $ASG already runs launch template $LT_ID version $LT_VERSION; nothing to roll out"
  exit 0
fi

# Wait for a refresh that is already running (another deploy) instead of failing on InstanceRefreshInProgress.
running="$(aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$ASG" --max-records 1 \
  --query "InstanceRefreshes[?Status=='Pending' || Status=='InProgress' || Status=='Cancelling' || Status=='RollbackInProgress' || Status=='Baking'].InstanceRefreshId | [0]" --output text)"
if [ "$running" != None ] && [ -n "$running" ]; then
  echo "instance-refresh: refresh $running is still running on $ASG; waiting for it first"
  while aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$ASG" --instance-refresh-ids "$running" \
    --query 'InstanceRefreshes[0].Status' --output text | grep -Eq '^(Pending|InProgress|Cancelling|RollbackInProgress|Baking)$'; do
    sleep "$POLL"
  done
fi

preferences="$(cat <<JSON
{"MinHealthyPercentage": 100, "MaxHealthyPercentage": 200, "InstanceWarmup": 60, "SkipMatching": true,
 "AutoRollback": true, "AlarmSpecification": {"Alarms": ["$ALARM"]}}
JSON
)"
id="$(aws autoscaling start-instance-refresh --auto-scaling-group-name "$ASG" --strategy Rolling \
  --desired-configuration "{\"LaunchTemplate\": {\"LaunchTemplateId\": \"$LT_ID\", \"Version\": \"$LT_VERSION\"}}" \
  --preferences "$preferences" --query InstanceRefreshId --output text)"
echo "instance-refresh: started $id on $ASG: launch template $LT_ID version $current -> $LT_VERSION (auto-rollback on)"

deadline=$((SECONDS + TIMEOUT))
while :; do
  read -r status pct reason < <(aws autoscaling describe-instance-refreshes --auto-scaling-group-name "$ASG" \
    --instance-refresh-ids "$id" --query 'InstanceRefreshes[0].[Status,PercentageComplete,StatusReason]' --output text)
  echo "instance-refresh: $status ${pct:-0}% ${reason:-}"
  case "$status" in
    Successful)
      echo "instance-refresh: $ASG now runs version $LT_VERSION"
      exit 0 ;;
    Failed | Cancelled | RollbackSuccessful | RollbackFailed)
      echo "instance-refresh: $status: the new server version did not become healthy; $ASG stays on version $current" >&2
      exit 1 ;;
  esac
  if [ $SECONDS -ge $deadline ]; then
    echo "instance-refresh: still $status after ${TIMEOUT}s; cancelling (the group keeps version $current)" >&2
    aws autoscaling cancel-instance-refresh --auto-scaling-group-name "$ASG" >/dev/null || true
    exit 1
  fi
  sleep "$POLL"
done
