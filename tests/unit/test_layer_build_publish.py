"""mlpipe.layers against moto (in-process): publish once per content, via S3 when big, refuse over limits."""
from __future__ import annotations

import zipfile

import pytest
from moto import mock_aws

from layer_build import build
from layer_build.build import LayerArtifact
from layer_build.limits import MIB, ArtifactSize, SizeReport
from mlpipe import clients, layers
from mlpipe.config import Settings
from mlpipe.names import Names
from mlpipe.stack import Stack


@pytest.fixture
def cloud(aws_credentials):
    clients.clear_cache()
    with mock_aws():
        settings = Settings(target="aws", region="us-east-1", endpoint_url=None, stack="lyr")
        names = Names.for_stack(settings, clients.account_id(settings))
        yield settings, names
    clients.clear_cache()


def artifact(tmp_path, name=build.PACKAGES, content="v = 1\n", zipped_bytes=None) -> LayerArtifact:
    zp = tmp_path / f"{name}-{abs(hash(content))}.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.writestr("python/pkg/__init__.py", content)
    from layer_build.zipdet import sha256_file
    return LayerArtifact(name=name, target="aws", zip_path=zp, sha256=sha256_file(zp), cache_key="k",
                         cache_hit=False, files=1, unzipped_bytes=len(content),
                         zipped_bytes=zipped_bytes or zp.stat().st_size, python_version="3.12", bytecode=True)


def test_publish_once_per_content(cloud, tmp_path):
    settings, names = cloud
    a = artifact(tmp_path)
    first = layers.publish(Stack(settings, names, lambda m: None), build.PACKAGES, a, needs_s3=False)
    assert first.action == "created" and first.name == "lyr-python-packages"
    assert first.arn.endswith(":layer:lyr-python-packages:1")
    again = layers.publish(Stack(settings, names, lambda m: None), build.PACKAGES, a, needs_s3=False)
    assert again.action == "found" and again.arn == first.arn
    lam = clients.client("lambda", settings)
    v = lam.get_layer_version(LayerName="lyr-python-packages", VersionNumber=1)
    assert f"sha256:{a.sha256}" in v["Description"] and v["CompatibleRuntimes"] == ["python3.12"]

    changed = layers.publish(Stack(settings, names), build.PACKAGES, artifact(tmp_path, content="v = 2\n"),
                             needs_s3=False)
    assert changed.action == "created" and changed.arn.endswith(":2")


def test_big_zips_go_through_s3_under_layers_prefix_of_the_input_bucket(cloud, tmp_path):
    settings, names = cloud
    a = artifact(tmp_path, name=build.MODEL_CODE, zipped_bytes=60 * MIB)
    with pytest.raises(Exception, match="input bucket .* does not exist"):
        layers.publish(Stack(settings, names, lambda m: None), build.MODEL_CODE, a, needs_s3=True)
    s3 = clients.client("s3", settings)
    s3.create_bucket(Bucket=names.input_bucket)
    said = []
    rep = layers.publish(Stack(settings, names, said.append), build.MODEL_CODE, a, needs_s3=True)
    assert rep.action == "created" and rep.details["via_s3"]
    key = f"layers/lyr-model-code/{a.sha256}.zip"
    assert s3.head_object(Bucket=names.input_bucket, Key=key)["ContentLength"] == a.zip_path.stat().st_size
    assert any("uploading" in m for m in said)
    assert not key.startswith("data/")   # the trigger fires on data/*.csv only

    deleted = layers.delete(Stack(settings, names))
    by_name = {r.name: r for r in deleted}
    assert by_name["lyr-model-code"].action == "deleted"
    assert by_name["lyr-model-code"].details == {"versions": [1], "s3_objects": 1}
    assert by_name["lyr-python-packages"].action == "absent"
    assert s3.list_objects_v2(Bucket=names.input_bucket, Prefix="layers/").get("KeyCount", 0) == 0
    assert layers.latest_version(clients.client("lambda", settings), "lyr-model-code") is None
    assert all(r.action == "absent" for r in layers.delete(Stack(settings, names)))


def test_ensure_layers_refuses_over_the_limit_with_the_numbers(cloud, tmp_path, monkeypatch):
    settings, names = cloud
    big = artifact(tmp_path)
    report = SizeReport((ArtifactSize(build.PACKAGES, "layer", 255 * MIB, 80 * MIB),
                         ArtifactSize("function:predict", "function", 1 * MIB, 1 * MIB)))
    monkeypatch.setattr(layers, "build_layers", lambda *a, **k: build.BuildResult((big,), report))
    with pytest.raises(layers.LayerLimitError, match=r"256\.0 MiB .*over AWS's limit of 250 MiB"):
        layers.ensure(Stack(settings, names, lambda m: None))
    lam = clients.client("lambda", settings)
    assert layers.latest_version(lam, names.python_layer) is None   # nothing published


def test_ensure_layers_builds_for_the_settings_target_and_returns_arns(cloud, tmp_path, monkeypatch):
    settings, names = cloud
    arts = (artifact(tmp_path), artifact(tmp_path, name=build.MODEL_CODE, content="m = 1\n"))
    seen = {}

    def fake_build(target, out, **kw):
        seen["target"] = target
        return build.BuildResult(arts, SizeReport(tuple(a.size() for a in arts)))

    monkeypatch.setattr(layers, "build_layers", fake_build)
    reps = layers.ensure(Stack(settings, names, lambda m: None))
    assert seen["target"] == "aws"
    assert [r.name for r in reps] == [names.python_layer, names.model_code_layer]
    assert all(r.action == "created" and ":layer:" in r.arn for r in reps)
    assert [r.action for r in layers.ensure(Stack(settings, names, lambda m: None))] == ["found", "found"]


def test_local_settings_build_the_local_target():
    assert layers.build_target(Settings(target="local")) == "local"
    assert layers.build_target(Settings(target="aws", endpoint_url=None)) == "aws"
