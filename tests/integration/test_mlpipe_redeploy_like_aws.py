"""Issue 19 acceptance: under the local cloud's `aws` profile (--like-aws), `mlpipe deploy`
(doctor first), `mlpipe destroy`, then `mlpipe deploy` again at once succeeds, and each
destroy leaves nothing. Whatever the profile adds of AWS's after-delete answers
(QueueDeletedRecently, a bucket still listed, OperationAborted) is waited out by the
pipeline (tests/unit/test_mlpipe_redeploy_faults.py shows each one).

The layers are not built here (tests/integration/test_api_end_to_end.py builds them): the
backend gets placeholder layer versions, published as a build would."""
from __future__ import annotations

import dataclasses
import io
import time
import zipfile

import pytest

from localcloud.core.profile import AWS
from localcloud.pytest_plugin import local_cloud  # noqa: F401 - the fixture
from mlpipe import cli, clients, layers, teardown
from mlpipe.config import load_settings
from mlpipe.names import names_for
from mlpipe.report import Report

pytestmark = pytest.mark.integration


def _placeholder_layers(settings, names):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("python/placeholder.py", "")
    lam = clients.client("lambda", settings)
    return [lam.publish_layer_version(LayerName=n, Content={"ZipFile": buf.getvalue()},
                                      CompatibleRuntimes=["python3.12"])["LayerVersionArn"] for n in names.layers]


def test_deploy_destroy_deploy_at_once_like_aws(local_cloud, monkeypatch, capsys):  # noqa: F811
    saved = local_cloud.profile
    # AWS's windows, shortened so the suite keeps its time budget; each one still has to be
    # met and waited out (QueueDeletedRecently 60 s on AWS, a deleted bucket listed 10 s here,
    # API Gateway's control-plane rates at three times AWS's).
    local_cloud.profile = dataclasses.replace(AWS, role_propagation_seconds=2.0,
                                              instance_profile_propagation_seconds=2.0,
                                              ec2_transition_seconds=1.0, ssm_registration_seconds=1.0,
                                              sqs_queue_deleted_recently_seconds=12.0,
                                              s3_deleted_bucket_seconds=3.0,
                                              apigateway_control_rate_scale=3.0)
    stack = "itredeploy"
    for k, v in {"MLPIPE_TARGET": "local", "MLPIPE_STACK": stack, "AWS_ENDPOINT_URL": local_cloud.endpoint_url,
                 "MLPIPE_READY_TIMEOUT": "60", "MLPIPE_COMMAND_TIMEOUT": "120"}.items():
        monkeypatch.setenv(k, v)
    clients.clear_cache()
    settings = load_settings()
    names = names_for(settings)
    # placeholder layers, no build: what the planner's layer steps publish
    monkeypatch.setattr(layers, "ensure", lambda st, **kw: [
        Report("created", "lambda layer", n, arn) for n, arn in zip(names.layers, _placeholder_layers(settings, names))])
    try:
        timings = []
        for round_ in (1, 2):
            t0 = time.monotonic()
            assert cli.main(["deploy"]) == 0, capsys.readouterr().err
            out = capsys.readouterr().out
            assert "doctor: 9 checks, 0 failed" in out
            if round_ == 2:  # the windows the destroy just opened are met and waited out
                assert "(OperationAborted): waiting" in out and "(QueueDeletedRecently): waiting" in out
            assert "created  ec2 instance" in out and "created  security group" in out
            assert cli.main(["destroy", "--yes"]) == 0, capsys.readouterr().err
            assert f"nothing of stack {stack} is left" in capsys.readouterr().out
            assert teardown.verify_destroyed(settings) == []
            timings.append(time.monotonic() - t0)
        with capsys.disabled():
            print(f"\ndeploy+destroy like aws (loaded machine): {timings[0]:.1f}s, then at once {timings[1]:.1f}s")
    finally:
        local_cloud.profile = saved
        clients.clear_cache()
