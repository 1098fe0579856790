"""Buckets: settings, idempotency, uploads with validation, the code archive."""
import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from mlpipe import buckets, clients
from mlpipe.config import MlpipeError
from mlpipe.names import Names
from mlpipe.stack import Stack

from test_mlpipe_support import aws  # noqa: F401  (fixture)


def _write_good_csv(path, rows=5):
    from model_code.dataset import make_split
    from model_code.data import write_csv

    split = make_split(n_batches=2)
    write_csv(path, split.batches[0].X[:rows], split.batches[0].y[:rows])
    return str(path)


def test_buckets_are_created_once_with_every_setting(aws):
    settings, names = aws
    first = buckets.ensure(Stack(settings, names))
    assert [r.action for r in first] == ["created", "created"]
    second = buckets.ensure(Stack(settings, names))
    assert [r.action for r in second] == ["found", "found"]

    for bucket in names.buckets:
        st = buckets.bucket_settings(Stack(settings, names), bucket)
        assert st["public_access_block"] == buckets.PUBLIC_ACCESS_BLOCK
        assert st["encryption"] == "AES256"
        assert st["tags"] == {"stack": "mlpipe"}
        stmt = st["policy"]["Statement"][0]
        assert stmt["Effect"] == "Deny" and stmt["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert names.objects_arn(bucket) in stmt["Resource"] and names.bucket_arn(bucket) in stmt["Resource"]
    assert buckets.bucket_settings(Stack(settings, names), names.output_bucket)["versioning"] == "Enabled"
    # the input bucket keeps versions too: a set-aside overwrite can be restored (restore-data)
    assert buckets.bucket_settings(Stack(settings, names), names.input_bucket)["versioning"] == "Enabled"


def test_drifted_setting_is_repaired_and_reported(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_public_access_block(Bucket=names.input_bucket)
    s3.delete_bucket_encryption(Bucket=names.input_bucket)
    reports = buckets.ensure(Stack(settings, names))
    assert reports[0].action == "updated"
    assert set(reports[0].details["changes"]) == {"public access block", "encryption"}
    assert reports[1].action == "found"


def test_tls_policy_is_not_applied_on_the_local_target(aws):
    settings, _ = aws
    local = settings.__class__(target="local", endpoint_url="http://127.0.0.1:4566")
    assert buckets.tls_policy_applies(settings) and not buckets.tls_policy_applies(local)


def test_other_region_bucket_gets_location_constraint(aws):
    settings, _ = aws
    eu = settings.with_(region="eu-west-1")
    names = Names.for_stack(eu, "123456789012")
    assert buckets.ensure_bucket(Stack(eu, names), names.output_bucket, versioned=True).action == "created"
    loc = boto3.client("s3", region_name="eu-west-1").get_bucket_location(Bucket=names.output_bucket)
    assert loc["LocationConstraint"] == "eu-west-1"


def test_upload_data_validates_before_uploading(aws, tmp_path):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    good = _write_good_csv(tmp_path / "batch_a.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(open(good).read().replace("mean radius", "mean radiuz", 1))
    with pytest.raises(buckets.UploadError) as ex:
        buckets.upload_data(Stack(settings, names), [good, str(bad)])
    msg = str(ex.value)
    assert "bad.csv" in msg and "nothing uploaded" in msg and "--force" in msg
    s3 = boto3.client("s3", region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=names.input_bucket).get("KeyCount", 0) == 0

    keys = buckets.upload_data(Stack(settings, names), [good])
    assert keys == ["data/batch_a.csv"]
    keys = buckets.upload_data(Stack(settings, names), [str(bad)], force=True)
    assert keys == ["data/bad.csv"]


@pytest.mark.parametrize("name,content,expect", [
    ("notes.txt", "x", "must end in .csv"),
    ("missing.csv", None, "no such file"),
    ("empty.csv", "", "empty"),
])
def test_upload_refusals_name_the_problem(aws, tmp_path, name, content, expect):
    settings, names = aws
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(buckets.UploadError, match=expect):
        buckets.upload_data(Stack(settings, names), [str(path)], force=(name != "empty.csv"))


def test_holdout_upload_is_skipped_when_unchanged(aws, tmp_path):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    path = _write_good_csv(tmp_path / "holdout.csv")
    assert buckets.upload_holdout(Stack(settings, names), path).action == "created"
    assert buckets.upload_holdout(Stack(settings, names), path).action == "found"
    assert buckets.ensure_holdout(Stack(settings, names)).action == "found"


def test_code_archive_is_deterministic_and_clean(tmp_path):
    for d in ("model_code", "ec2_scripts", "glue_contract"):
        (tmp_path / d / "__pycache__").mkdir(parents=True)
        (tmp_path / d / "__init__.py").write_text("")
        (tmp_path / d / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
        (tmp_path / d / "mod.pyc").write_bytes(b"junk")
    (tmp_path / "ec2_scripts" / "run.sh").write_text("#!/bin/bash\necho hi\n")
    (tmp_path / "model_code" / "tests").mkdir()
    (tmp_path / "model_code" / "tests" / "test_a.py").write_text("")
    a = buckets.build_code_archive(tmp_path)
    b = buckets.build_code_archive(tmp_path)
    assert a == b
    with zipfile.ZipFile(io.BytesIO(a)) as zf:
        names = zf.namelist()
        mode = zf.getinfo("ec2_scripts/run.sh").external_attr >> 16
    assert names == ["ec2_scripts/__init__.py", "ec2_scripts/run.sh", "glue_contract/__init__.py",
                     "model_code/__init__.py"]
    assert mode & 0o111


def test_real_code_archive_has_model_code_and_ec2_scripts():
    with zipfile.ZipFile(io.BytesIO(buckets.build_code_archive())) as zf:
        names = zf.namelist()
    assert "model_code/data.py" in names and "ec2_scripts/user_data.sh" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_code_archive_upload_is_idempotent(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    assert buckets.upload_code_archive(Stack(settings, names)).action == "created"
    assert buckets.upload_code_archive(Stack(settings, names)).action == "found"


def test_delete_empties_every_version_and_leaves_other_stacks(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    other = Names.for_stack(settings.with_(stack="other"), names.account_id)
    buckets.ensure_bucket(Stack(settings.with_(stack="other"), other), other.output_bucket, versioned=True)
    s3 = boto3.client("s3", region_name="us-east-1")
    for i in range(3):
        s3.put_object(Bucket=names.output_bucket, Key="runs/r.json", Body=json.dumps({"i": i}))
    s3.delete_object(Bucket=names.output_bucket, Key="runs/r.json")  # a delete marker
    s3.put_object(Bucket=other.output_bucket, Key="keep.txt", Body=b"x")
    reports = buckets.delete_buckets(Stack(settings, names))
    assert [r.action for r in reports] == ["deleted", "deleted"]
    assert reports[1].details["objects_deleted"] == 4
    assert buckets.delete_buckets(Stack(settings, names))[0].action == "absent"
    assert s3.get_object(Bucket=other.output_bucket, Key="keep.txt")["Body"].read() == b"x"


def test_bucket_tagged_for_another_stack_is_refused(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_bucket_tagging(Bucket=names.input_bucket, Tagging={"TagSet": [{"Key": "stack", "Value": "bob"}]})
    with pytest.raises(MlpipeError, match="stack=bob"):
        buckets.delete_bucket(Stack(settings, names), names.input_bucket)


def test_bucket_of_another_account_is_a_clear_error(aws, monkeypatch):
    settings, names = aws
    s3 = clients.client("s3", settings)

    def forbidden(**_):
        raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadBucket")
    monkeypatch.setattr(s3, "head_bucket", forbidden)
    with pytest.raises(MlpipeError, match="another account"):
        buckets.ensure(Stack(settings, names))


def test_upload_refuses_a_file_over_the_pipelines_50_mib_limit(aws, tmp_path):
    """Issue 19: 50 MB (decimal) passed, 50 MiB is the pipeline's limit; both now agree."""
    from glue_contract.defaults import MAX_DATA_FILE_BYTES
    from ec2_scripts import train_run
    assert MAX_DATA_FILE_BYTES == 50 * 1024 * 1024 == train_run.MAX_DATA_FILE_BYTES
    settings, _ = aws
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(MAX_DATA_FILE_BYTES + 1)
    with pytest.raises(buckets.UploadError, match="50 MiB"):
        buckets.upload_data(Stack.load(settings), [big], force=True)
