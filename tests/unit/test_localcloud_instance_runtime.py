"""The instance hosts' own Python (localcloud.ec2.runtime): exactly what the instance's user
data installs, linked from the operator's venv, and nothing else of it."""
from __future__ import annotations

import subprocess

from localcloud.ec2 import runtime
from model_code import pins


def test_it_holds_what_the_instances_user_data_installs():
    assert set(pins.LOCK) <= set(runtime.INSTANCE_PACKAGES)


def test_built_runtime_holds_the_closure_and_nothing_else(tmp_path, monkeypatch):
    monkeypatch.delenv("LOCALCLOUD_INSTANCE_PACKAGES", raising=False)
    root = runtime.install(tmp_path / "rt")
    site = runtime.site_packages(root)
    names = {p.name for p in site.iterdir()}
    assert {"sklearn", "numpy", "scipy", "joblib", "boto3", "botocore"} <= names
    assert not {"moto", "mlpipe", "localcloud", "pytest", "IPython"} & names
    assert not list(site.glob("*.pth"))
    assert runtime.installed(root)["packages"]["scikit-learn"] == pins.SKLEARN_VERSION
    stamp = (root / runtime.STAMP).stat().st_mtime_ns
    assert runtime.install(root) == root and (root / runtime.STAMP).stat().st_mtime_ns == stamp
    probe = subprocess.run([str(runtime.python(root)), "-c",
                            "import sklearn, sys\ntry:\n import moto\nexcept ImportError:\n"
                            " print('no moto', sys.prefix)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["no", "moto", str(root)]


def test_extra_packages_are_added_and_a_missing_one_is_named(monkeypatch):
    monkeypatch.setenv("LOCALCLOUD_INSTANCE_PACKAGES", "pyyaml")
    assert "pyyaml" in runtime.closure()
    monkeypatch.setenv("LOCALCLOUD_INSTANCE_PACKAGES", "no-such-dist-xyz")
    try:
        runtime.closure()
    except RuntimeError as exc:
        assert "no-such-dist-xyz" in str(exc)
    else:
        raise AssertionError("a missing package was not named")
