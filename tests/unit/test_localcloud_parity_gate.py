"""The parity gate (`make parity`) without a LocalStack checkout: its judgement, its files,
and the clear refusal when the checkout is missing."""
import json
import subprocess
import sys

import pytest

from localcloud.parity import gate


def _rec(nodeid, outcome="passed", snapshot=False, text="", paths=()):
    return {"nodeid": nodeid, "outcome": outcome, "snapshot_mismatch": snapshot,
            "text": text, "diff_paths": list(paths)}


S = "tests/aws/services"


def test_judge_finds_regressions_stale_entries_and_unlisted_failures():
    results = {r["nodeid"]: r for r in [
        _rec(f"{S}/s3/test_s3_api.py::T::test_a"),
        _rec(f"{S}/s3/test_s3_api.py::T::test_b", "failed", text="E   Failed: DID NOT RAISE"),
        _rec(f"{S}/s3/test_s3_api.py::T::test_host", "passed"),
        _rec(f"{S}/iam/test_iam.py::T::test_c", "failed", True,
             paths=["k: dictionary_item_removed root['Role']"]),
    ]}
    devs = [gate.Deviation("hosts", [f"{S}/s3/*::test_host"], "calls a real AWS host", "offline"),
            gate.Deviation("iam_roles", [f"{S}/iam/*"], "to fix", "gap")]
    passing = {f"{S}/s3/test_s3_api.py::T::test_a", f"{S}/s3/test_s3_api.py::T::test_b"}
    v = gate.judge(results, devs, passing)
    assert v.regressions == [f"{S}/s3/test_s3_api.py::T::test_b"]
    assert v.stale and "test_host" in v.stale[0]
    assert v.listed == {"gap.iam_roles": [f"{S}/iam/test_iam.py::T::test_c"]}
    assert v.unlisted == [f"{S}/s3/test_s3_api.py::T::test_b"]
    assert v.new_passes == [f"{S}/s3/test_s3_api.py::T::test_host"]
    assert not v.ok


def test_a_partial_run_only_holds_the_selected_files_to_the_ratchet():
    results = {f"{S}/ssm/test_ssm.py::T::test_x": _rec(f"{S}/ssm/test_ssm.py::T::test_x")}
    passing = {f"{S}/ssm/test_ssm.py::T::test_x", f"{S}/s3/test_s3_api.py::T::test_a"}
    v = gate.judge(results, [], passing, selected=[f"{S}/ssm/test_ssm.py"])
    assert v.ok and v.regressions == []
    v = gate.judge(results, [], passing)
    assert v.regressions == [f"{S}/s3/test_s3_api.py::T::test_a"]


def test_categories_group_by_snapshot_path_or_last_error():
    snap = _rec("x", "failed", True, paths=["m: values_changed root['Items'][3]['Name']"])
    assert gate.category(snap) == "snapshot values_changed root['Items'][*]['Name']"
    fail = _rec("y", "failed", text="foo\nE   botocore.exceptions.ClientError: 'abc' here")
    assert gate.category(fail) == "botocore.exceptions.ClientError: '…' here"


def test_the_deviations_file_loads_and_every_entry_has_a_reason():
    devs = gate.load_deviations()
    assert devs, "deviations.toml lists what cannot match offline"
    for d in devs:
        assert d.reason.strip() and d.tests and d.kind in ("offline", "gap")


def test_deviations_without_a_reason_are_refused(tmp_path):
    f = tmp_path / "d.toml"
    f.write_text('[offline.x]\ntests = ["a"]\n')
    with pytest.raises(gate.GateError, match="needs tests and reason"):
        gate.load_deviations(f)


def test_benchmarks_get_a_parity_section_between_markers(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# Benchmarks\n<!-- BENCH:BEGIN -->\nx\n<!-- BENCH:END -->\n")
    results = {f"{S}/ssm/test_ssm.py::T::a": _rec(f"{S}/ssm/test_ssm.py::T::a"),
               f"{S}/ssm/test_ssm.py::T::b": _rec(f"{S}/ssm/test_ssm.py::T::b", "failed")}
    gate.write_benchmarks(results, doc)
    text = doc.read_text()
    assert "<!-- BENCH:END -->" in text and gate.BEGIN in text and gate.END in text
    assert "**1 of 2**" in text and "| ssm/test_ssm.py | 2 | 1 | 0 | 1 | 0 |" in text
    gate.write_benchmarks({k: _rec(k) for k in results}, doc)  # replaced, not appended
    assert doc.read_text().count(gate.BEGIN) == 1 and "**2 of 2**" in doc.read_text()


def test_without_a_checkout_make_parity_says_where_the_tests_come_from(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LSPARITY": str(tmp_path / "none"),
           "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "localcloud.parity", "run"],
                          capture_output=True, text=True, env=env,
                          cwd=str(gate.REPO))
    assert proc.returncode == 2
    assert "LOCALSTACK_CHECKOUT" in proc.stderr and gate.LOCALSTACK_COMMIT in proc.stderr
    assert "github.com/localstack/localstack" in proc.stderr


def test_a_checkout_at_another_commit_is_refused(tmp_path, monkeypatch):
    repo = tmp_path / "ls"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a",
                    "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    monkeypatch.setenv("LOCALSTACK_CHECKOUT", str(repo / ".git"))
    with pytest.raises(gate.GateError, match="not 8b9a79f"):
        gate.checkout()


def test_the_plugin_stands_alone_and_the_suite_covers_the_six_services():
    plugin = gate.HERE / "plugin" / "parity_plugin.py"
    text = plugin.read_text()
    assert plugin.exists() and "import localcloud" not in text and "from localcloud" not in text
    services = {t.split("/")[3] for t in gate.SUITE}
    assert services == {"ssm", "s3", "apigateway", "iam", "lambda_", "logs"}


def test_results_load_from_jsonl(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps(_rec("n1")) + "\n" +
                                      json.dumps(_rec("n2", "failed")) + "\n")
    got = gate.load_results(tmp_path)
    assert gate.kind(got["n1"]) == "pass" and gate.kind(got["n2"]) == "fail"
