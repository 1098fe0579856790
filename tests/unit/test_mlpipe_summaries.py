"""mlpipe.tables' answers-not-walls helpers: a summary in a few lines, the whole one call away."""
from __future__ import annotations

from mlpipe import tables

POINTER = {
    "version": "v003", "model_key": "models/v003/model.joblib", "run_id": "run-1",
    "promoted_at": "2026-12-06T02:00:00.000Z",
    "metrics": {"roc_auc": 0.99712, "accuracy": 0.9649, "f1": 0.97, "confusion_matrix": [[40, 2], [2, 70]]},
    "export": {"key": "models/v003/model_export.json", "format": "mlpipe-export", "format_version": 1,
               "kind": "linear", "sha256": "ab" * 32, "bytes": 2500},
    "export_inline": {"coef": [[0.1] * 30], "intercept": [0.5], "mean": [1.0] * 30, "scale": [2.0] * 30},
}


def test_pointer_summary_is_short_and_keeps_the_whole(capsys):
    s = tables.pointer_summary(POINTER)
    text = str(s)
    assert len(text.splitlines()) <= 10
    assert "v003" in text and "roc_auc 0.9971" in text and "91 numbers inline" in text
    assert "show_full(pointer)" in text
    tables.show_full(s)
    out = capsys.readouterr().out
    assert '"export_inline"' in out and len(out.splitlines()) > 60   # the wall, only when asked


def test_no_pointer_says_so():
    assert "no model promoted" in str(tables.pointer_summary(None))


def test_metrics_table_one_row_per_number():
    t = tables.metrics_table(POINTER["metrics"])
    assert t.loc["roc_auc", "value"] == 0.9971
    assert t.loc["confusion: false negatives (fn)", "value"] == 2
    assert len(t) == 3 + 4


def test_command_shape_names_parameters_by_size_not_content():
    script = "python3 - <<'EOF'\n" + "print('x')\n" * 80 + "EOF"
    command = {"CommandId": "c-1", "DocumentName": "AWS-RunShellScript", "InstanceIds": ["i-1"],
               "Comment": "mlpipe training run-1: data/batch_02.csv", "TimeoutSeconds": 900,
               "Status": "Success", "Parameters": {"commands": [script], "executionTimeout": ["900"]}}
    s = tables.command_shape(command)
    text = str(s)
    assert "AWS-RunShellScript" in text and "i-1" in text and "run-1" in text
    assert "Parameters['commands']" in text and "82 lines" in text
    assert "print('x')" not in text and len(text.splitlines()) < 15
    assert "print('x')" in s.full_text()


def test_reports_summary_counts_per_action_and_kind_and_keeps_the_table(capsys):
    from mlpipe.report import Report

    reports = [Report("created", "iam role", f"r{i}") for i in range(6)] + \
        [Report("found", "s3 bucket", "in"), Report("found", "s3 bucket", "out"),
         Report("created", "lambda function", "f")]
    s = tables.reports_summary(reports)
    text = str(s)
    assert text.splitlines()[0] == "9 resources: 7 created, 2 found"
    assert "iam role" in text and "6 created" in text and "s3 bucket" in text and "2 found" in text
    assert "show_full(reports_summary(reports))" in text
    assert len(text.splitlines()) == 1 + 3 + 1
    tables.show_full(s)
    full = capsys.readouterr().out
    assert all(f"r{i}" in full for i in range(6)) and "out" in full and "lambda function" in full


def test_steps_only_prints_steps_and_instance_states(capsys):
    from mlpipe.notebook import steps_only

    for line in ["buckets", "  found    s3 bucket        b", "training instance",
                 "  launching t3.small from ami-1 in subnet-1", "  i-0abc: running (1s)",
                 "  created  ec2 instance     trainer"]:
        steps_only(line)
    assert capsys.readouterr().out.splitlines() == [
        "buckets", "training instance", "  launching t3.small from ami-1 in subnet-1",
        "  i-0abc: running (1s)"]


def test_steps_only_skips_blank_lines(capsys):
    from mlpipe.notebook import steps_only

    steps_only("")
    steps_only("layers")
    assert capsys.readouterr().out == "layers\n"
