#!/bin/bash
# EC2 user data for the training instance (Amazon Linux 2023), run by cloud-init as root
# on the first boot. mlpipe substitutes @SKLEARN_VERSION@ and @REQUIREMENTS@ from the lock
# in model_code/pins.py, so the instance trains with the very packages (scikit-learn,
# numpy, scipy, joblib, threadpoolctl, boto3: exact versions) the predict layer serves with.
#
# Installs: python3.12 (AL2023's default python3 is 3.9, too old for current
# scikit-learn), a venv at /opt/mlpipe/venv with the training stack + boto3, and makes
# sure the SSM agent (shipped with AL2023) runs: the pipeline reaches the instance only
# through SSM Run Command (no SSH, no keys). Idempotent: safe to run again by hand.
# Needs outbound HTTPS (dnf, PyPI, SSM and S3 endpoints).
set -euxo pipefail
exec > >(tee -a /var/log/mlpipe-user-data.log) 2>&1

VENV=/opt/mlpipe/venv
SKLEARN_VERSION="@SKLEARN_VERSION@"
REQUIREMENTS=(@REQUIREMENTS@)

# The SSM agent first, so the instance can take commands (and be debugged) even if a
# later step fails.
if ! rpm -q amazon-ssm-agent >/dev/null 2>&1; then
    dnf install -y amazon-ssm-agent
fi
systemctl enable --now amazon-ssm-agent

have_stack() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${REQUIREMENTS[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
import boto3, joblib, numpy, scipy, sklearn
for req in sys.argv[1:]:
    name, wanted = req.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if ! have_stack; then
    dnf install -y python3.12 python3.12-pip util-linux
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    python3.12 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --no-cache-dir --upgrade pip
    "$VENV/bin/python" -m pip install --no-cache-dir "${REQUIREMENTS[@]}"
fi
have_stack
echo "mlpipe: training stack ready in $VENV (scikit-learn ${SKLEARN_VERSION})"
