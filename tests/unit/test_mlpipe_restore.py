"""mlpipe restore-data (fault 14): the input bucket keeps versions, so a good data file
overwritten by a bad one, which its run set aside, can be put back."""
import pytest

from ec2_scripts.train_run import reject_file
from mlpipe import buckets, cli
from mlpipe.clients import client
from mlpipe.restore import RestoreError, restore_data
from mlpipe.stack import Stack
from test_mlpipe_support import aws  # noqa: F401  (fixture)

KEY = "data/batch_01.csv"


def _good_csv(rows=5) -> bytes:
    import io

    from model_code.data import HEADER
    from model_code.dataset import make_split

    split = make_split(n_batches=2)
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    for xs, y in zip(split.batches[0].X[:rows].tolist(), split.batches[0].y[:rows].tolist()):
        out.write(",".join(repr(v) for v in xs) + f",{y}\n")
    return out.getvalue().encode()


def test_a_set_aside_overwrite_is_undone(aws, capsys):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3, bucket = client("s3", settings), names.input_bucket
    good = _good_csv()
    s3.put_object(Bucket=bucket, Key=KEY, Body=good)
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"mean radius\n1e308\n")  # the bad overwrite
    etag = s3.head_object(Bucket=bucket, Key=KEY)["ETag"].strip('"')
    assert reject_file(s3, bucket, KEY, "run-x", etag) == "rejected/batch_01.csv"  # as the run does
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket=bucket, Key=KEY)  # gone from data/: the good rows too

    out = restore_data(Stack(settings, names), KEY)
    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == good
    assert out["key"] == KEY and out["restored_version"] != out["replaced"]
    with pytest.raises(RestoreError, match="current and valid"):
        restore_data(Stack(settings, names), KEY)  # idempotent: nothing more to do


def test_restore_says_why_when_there_is_nothing_to_restore(aws):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3, bucket = client("s3", settings), names.input_bucket
    with pytest.raises(RestoreError, match="no versions"):
        restore_data(Stack(settings, names), KEY)
    s3.put_object(Bucket=bucket, Key=KEY, Body=b"not,a,data,file\n")
    with pytest.raises(RestoreError, match="no earlier valid version"):
        restore_data(Stack(settings, names), KEY)
    with pytest.raises(RestoreError, match="not a data key"):
        restore_data(Stack(settings, names), "holdout/holdout.csv")


def test_the_cli_verb(aws, capsys):
    settings, names = aws
    buckets.ensure(Stack(settings, names))
    s3, bucket = client("s3", settings), names.input_bucket
    s3.put_object(Bucket=bucket, Key=KEY, Body=_good_csv())
    s3.delete_object(Bucket=bucket, Key=KEY)
    args = cli.build_parser().parse_args(["restore-data", KEY])
    assert args.func(args, settings) == 0
    assert "restored data/batch_01.csv" in capsys.readouterr().out
