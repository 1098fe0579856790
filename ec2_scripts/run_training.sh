#!/usr/bin/env bash
# The script SSM Run Command runs on the training instance (sent by the Worker Lambda),
# from the root of the unpacked code archive (model_code/ + ec2_scripts/).
#
# Configuration (environment, set by the Worker's command):
#   MLPIPE_INPUT_BUCKET, MLPIPE_OUTPUT_BUCKET, MLPIPE_RUN_ID        (required)
#   MLPIPE_PROMOTION_TOLERANCE (default 0), MLPIPE_MODEL_KIND (default logreg),
#   MLPIPE_INSTANCE_ID, MLPIPE_TRIGGER_KEYS (space-separated), MLPIPE_HOME (default $HOME/mlpipe)
#
# - Runs on one instance are serialized with flock on $MLPIPE_HOME/train.lock: a run that
#   is queued behind another lists the data only once it holds the lock, so it sees every
#   file that arrived meanwhile.
# - An EXIT trap ALWAYS leaves a run record: if `python3 -m ec2_scripts.train_run` wrote
#   none (crash, import error, killed), it writes a `failed` one with the exit code and the
#   last lines of stderr (ec2_scripts/record.py). The record fires the Stop-EC2 Lambda.
#   When train_run says (marker file) that its record is in S3, the trap ends at once, so
#   the command ends right after the record and Stop-EC2 need not wait for it.
set -uo pipefail

: "${MLPIPE_INPUT_BUCKET:?MLPIPE_INPUT_BUCKET is not set}"
: "${MLPIPE_OUTPUT_BUCKET:?MLPIPE_OUTPUT_BUCKET is not set}"
: "${MLPIPE_RUN_ID:?MLPIPE_RUN_ID is not set}"
export HOME="${HOME:-/root}"
MLPIPE_HOME="${MLPIPE_HOME:-$HOME/mlpipe}"
TOLERANCE="${MLPIPE_PROMOTION_TOLERANCE:-0}"
MODEL_KIND="${MLPIPE_MODEL_KIND:-logreg}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$MLPIPE_HOME"
work="$root/work"
mkdir -p "$work"
stderr_file="$work/train.stderr"
: >"$stderr_file"
record_marker="$work/record-written"  # train_run writes the run id here once its record is in S3
rm -f "$record_marker"
started_at="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"  # ISO 8601 UTC, ms (the contract)

on_exit() {
    rc=$?
    trap - EXIT
    if [ -f "$record_marker" ] && [ "$(cat "$record_marker")" = "$MLPIPE_RUN_ID" ]; then
        exit "$rc"  # the run wrote its record: nothing to check
    fi
    python3 -m ec2_scripts.record ensure \
        --output-bucket "$MLPIPE_OUTPUT_BUCKET" --run-id "$MLPIPE_RUN_ID" --exit-code "$rc" \
        --stderr-file "$stderr_file" --started-at "$started_at" \
        --instance-id "${MLPIPE_INSTANCE_ID:-}" --trigger-keys "${MLPIPE_TRIGGER_KEYS:-}" \
        || echo "run_training.sh: could not check or write the run record for $MLPIPE_RUN_ID" >&2
    exit "$rc"
}
trap on_exit EXIT
# Turn SIGTERM/SIGINT (e.g. a cancelled command) into an exit that runs the trap.
trap 'exit 143' TERM
trap 'exit 130' INT

exec 9>"$MLPIPE_HOME/train.lock"
echo "run $MLPIPE_RUN_ID: waiting for the instance's training lock" >&2
flock 9
echo "run $MLPIPE_RUN_ID: lock held, training" >&2
started_at="$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)"  # ISO 8601 UTC, ms (the contract)

python3 -m ec2_scripts.train_run \
    --input-bucket "$MLPIPE_INPUT_BUCKET" --output-bucket "$MLPIPE_OUTPUT_BUCKET" \
    --run-id "$MLPIPE_RUN_ID" --tolerance "$TOLERANCE" --model "$MODEL_KIND" \
    --instance-id "${MLPIPE_INSTANCE_ID:-}" --trigger-keys "${MLPIPE_TRIGGER_KEYS:-}" \
    --work-dir "$work" --record-marker "$record_marker" 2>"$stderr_file"
rc=$?
cat "$stderr_file" >&2
exit "$rc"
