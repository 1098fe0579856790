"""Who may import whom (ARCHITECTURE.md, "Folders"), checked on the source:

- model_code imports nothing of ours (it runs on EC2 and inside a layer);
- lambda_code and ec2_scripts import only model_code and glue_contract (the shared contract,
  shipped in every glue function's zip and in the code archive); glue_contract imports nothing
  of ours, and mlpipe reads its defaults from it;
- localcloud imports nothing of ours (a stand-in for AWS knows nothing of the pipeline);
- mlpipe and layer_build never import localcloud (the local target is only an endpoint).
"""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = {"model_code", "lambda_code", "ec2_scripts", "localcloud", "mlpipe", "layer_build", "tools", "bench",
        "glue_contract"}
ALLOWED = {
    "model_code": set(),
    "glue_contract": set(),
    "lambda_code": {"model_code", "glue_contract"},
    "ec2_scripts": {"model_code", "glue_contract"},
    "localcloud": set(),
    "mlpipe": {"model_code", "layer_build", "glue_contract"},
    "layer_build": {"model_code"},
}


def _imports(path: Path) -> set:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_where_code_runs(package):
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in _imports(path) & OURS:
            if name != package and name not in ALLOWED[package]:
                bad.append(f"{path.relative_to(REPO)} imports {name}")
    assert not bad, "\n".join(bad)
