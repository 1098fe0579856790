"""The operator side's shape: one vocabulary for AWS errors, one zip builder (the function zip
the layer build measures is the one deployed), one module per resource kind with the same
four verbs, and the orchestrators the only callers of more than one resource module."""
import ast
import pathlib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MLPIPE = ROOT / "mlpipe"
RESOURCE_MODULES = ("buckets", "queues", "network", "iam", "instance", "functions", "logs",
                    "notifications", "schedule", "layers", "api")


def test_aws_error_codes_are_read_in_clients_only():
    offenders = []
    for path in sorted(MLPIPE.glob("*.py")):
        text = path.read_text()
        # the vocabulary; the CLI prints code and message; the call recorder reads botocore's
        # parsed answer (not an exception) in its after-call hook
        if path.name in ("clients.py", "cli.py", "calls.py"):
            continue
        if '.get("Error"' in text or "['Error']" in text or '["Error"]' in text:
            offenders.append(path.name)
    assert offenders == []


@pytest.mark.parametrize("name", RESOURCE_MODULES)
def test_every_resource_module_has_the_verbs_the_orchestrators_call(name):
    import importlib

    mod = importlib.import_module(f"mlpipe.{name}")
    verbs = ("delete",) if name == "notifications" else ("delete", "leftovers")  # notifications go with buckets
    for verb in verbs:
        assert callable(getattr(mod, verb, None)), f"mlpipe.{name}.{verb}"


def test_only_deploy_and_teardown_orchestrate():
    """No resource module imports another resource module's ensure/delete (only deploy/teardown do)."""
    for name in RESOURCE_MODULES + ("registry",):
        tree = ast.parse((MLPIPE / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in RESOURCE_MODULES:
                imported = {a.name for a in node.names}
                assert not imported & {"ensure", "delete", "deploy", "destroy"}, (name, node.module, imported)


def test_the_function_zip_measured_is_the_one_deployed(tmp_path):
    from layer_build.build import function_size
    from mlpipe.functions import build_zip, source_dir

    fn = source_dir("predict")
    size = function_size(fn, tmp_path)
    assert pathlib.Path(size.path).read_bytes() == build_zip(fn)
    with zipfile.ZipFile(size.path) as zf:
        names = zf.namelist()
    assert "handler.py" in names and not any("__pycache__" in n or n.startswith("events/") for n in names)
