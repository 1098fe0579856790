"""IAM modes and the report's proposals (no cloud)."""
import pytest

from localcloud.iam.report import DenialLog, proposals, render
from localcloud.iam.service import resolve_mode

ROLE = "arn:aws:iam::123456789012:role/stack-worker-role"
SESSION = "arn:aws:sts::123456789012:assumed-role/stack-worker-role/stack-worker"


def test_mode_defaults_to_enforce_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_IAM", raising=False)
    assert resolve_mode() == "enforce"
    monkeypatch.setenv("LOCALCLOUD_IAM", "Audit")
    assert resolve_mode() == "audit"
    assert resolve_mode("off") == "off"  # an explicit --iam wins
    with pytest.raises(ValueError, match="enforce, audit, off"):
        resolve_mode("permissive")


def test_proposals_name_exact_actions_and_resources(tmp_path):
    log = DenialLog(tmp_path / "r.jsonl")
    for res in ("arn:aws:ec2:us-east-1:123456789012:instance/i-1",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-1"):
        log.record(mode="enforce", principal=SESSION, action="ec2:StartInstances", resource=res,
                   reason="implicit-deny", message="m", role_arn=ROLE)
    log.record(mode="audit", principal=SESSION, action="s3:PutObject",
               resource="arn:aws:s3:::b/runs/x.json", reason="implicit-deny", message="m", role_arn=ROLE)
    log.record(mode="enforce", principal=SESSION, action="s3:DeleteObject", resource="arn:aws:s3:::b/k",
               reason="explicit-deny", message="m", role_arn=ROLE, sid="NoDelete")
    log.record(mode="enforce", principal="s3.amazonaws.com", action="lambda:InvokeFunction",
               resource="arn:aws:lambda:us-east-1:123456789012:function:f", reason="implicit-deny",
               message="m", service_principal="s3.amazonaws.com", source_arn="arn:aws:s3:::in")
    props = proposals(log.entries())
    policy = [p for p in props if p["kind"] == "identity-policy"][0]
    assert policy["role"] == ROLE
    assert policy["policy"]["Statement"] == [
        {"Effect": "Allow", "Action": "ec2:StartInstances",
         "Resource": "arn:aws:ec2:us-east-1:123456789012:instance/i-1"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/runs/x.json"}]
    deny = [p for p in props if p["kind"] == "explicit-deny"][0]
    assert deny["sid"] == "NoDelete" and deny["action"] == "s3:DeleteObject"
    perm = [p for p in props if p["kind"] == "lambda-permission"][0]
    assert perm["command"] == ("aws lambda add-permission --function-name f --statement-id s3-invoke "
                               "--action lambda:InvokeFunction --principal s3.amazonaws.com "
                               "--source-arn arn:aws:s3:::in")
    text = render(log.entries(), "enforce")
    assert "5 denial(s) recorded (1 would-be, in audit mode)" in text
    assert f"role {ROLE} lacks:" in text and "change the Deny" in text
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 5
    assert log.clear() == 5 and log.entries() == [] and not (tmp_path / "r.jsonl").exists()
    assert render([], "audit") == "IAM mode: audit. No denials recorded."


def test_cli_accepts_iam_modes():
    from localcloud.cli import main
    with pytest.raises(SystemExit):
        main(["up", "--iam", "sometimes"])
