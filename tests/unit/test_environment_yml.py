"""environment.yml (conda users) lists the same dependencies as pyproject.toml."""
import pathlib
import re
import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONDA_ONLY = {"python", "pip"}  # the interpreter and the installer, not project dependencies


def parse_env_yml(text: str) -> dict:
    """A tiny parser for environment.yml's shape: top-level scalars and lists, and list
    items that are themselves ``key:`` + a nested list (the ``pip:`` section)."""
    doc: dict = {}
    top = nested = None
    item_indent = None
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        body = line.strip()
        if indent == 0:
            key, _, value = body.partition(":")
            value = value.strip()
            doc[key] = value if value else []
            top, nested, item_indent = (doc[key] if not value else None), None, None
            continue
        if not body.startswith("- ") or top is None:
            raise ValueError(f"environment.yml: cannot parse line {raw!r}")
        item = body[2:].strip()
        if item_indent is None:
            item_indent = indent
        if indent == item_indent:
            if item.endswith(":"):
                nested = []
                top.append({item[:-1]: nested})
            else:
                nested = None
                top.append(item)
        elif indent > item_indent and nested is not None:
            nested.append(item)
        else:
            raise ValueError(f"environment.yml: unexpected indentation in {raw!r}")
    return doc


def _key(spec: str):
    req = Requirement(spec)
    return canonicalize_name(req.name), frozenset(req.extras), str(SpecifierSet(str(req.specifier)))


def env_requirements() -> tuple:
    """(conda specs, pip specs) of environment.yml, as written."""
    doc = parse_env_yml((ROOT / "environment.yml").read_text())
    conda = [d for d in doc["dependencies"] if isinstance(d, str)]
    pip = [x for d in doc["dependencies"] if isinstance(d, dict) for x in d.get("pip", [])]
    return conda, pip


def pyproject_requirements() -> list:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return list(project["dependencies"]) + [r for group in project.get("optional-dependencies", {}).values() for r in group]


def test_tiny_parser_agrees_with_pyyaml_when_available():
    try:
        import yaml  # pyyaml arrives with jupyterlab; the tiny parser must not need it
    except ImportError:
        return
    text = (ROOT / "environment.yml").read_text()
    assert parse_env_yml(text) == yaml.safe_load(text)


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    conda, pip = env_requirements()
    env = {_key(s) for s in conda if Requirement(s).name not in CONDA_ONLY}
    env |= {_key(s) for s in pip if not s.startswith("-")}
    project = {_key(s) for s in pyproject_requirements()}
    assert env - project == set(), "in environment.yml but not pyproject.toml"
    assert project - env == set(), "in pyproject.toml but not environment.yml"


def test_environment_yml_installs_the_project_and_a_matching_python():
    conda, pip = env_requirements()
    assert "-e ." in pip
    py = [Requirement(s) for s in conda if Requirement(s).name == "python"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert len(py) == 1 and str(py[0].specifier) == requires
    assert "pip" in conda


def test_no_entry_listed_twice():
    conda, pip = env_requirements()
    names = [canonicalize_name(Requirement(s).name) for s in conda + pip if not s.startswith("-")]
    assert len(names) == len(set(names))


def test_parser_reads_the_shapes_it_claims():
    text = "name: x  # c\nchannels:\n  - conda-forge\ndependencies:\n  - a>=1\n  - pip:\n      - b[c]>=2,<3\n      - -e .\n  - d\n"
    assert parse_env_yml(text) == {"name": "x", "channels": ["conda-forge"],
                                   "dependencies": ["a>=1", {"pip": ["b[c]>=2,<3", "-e ."]}, "d"]}
