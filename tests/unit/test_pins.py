"""The scikit-learn pin is one number everywhere: model_code/pins.py, pyproject.toml,
environment.yml and the installed environment (a model pickled with another
major.minor does not load where it is served)."""
import pathlib
import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from model_code.pins import LOCK, RUNTIME_REQUIREMENTS, SKLEARN_VERSION, TRAINING_REQUIREMENTS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _pyproject_deps() -> dict:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(Requirement(d).name): Requirement(d) for d in deps}


def test_pin_is_an_exact_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", SKLEARN_VERSION)


def test_pyproject_pins_the_same_scikit_learn():
    assert str(_pyproject_deps()["scikit-learn"].specifier) == f"=={SKLEARN_VERSION}"


def test_environment_yml_pins_the_same_scikit_learn():
    lines = [l.split("#")[0].strip() for l in (ROOT / "environment.yml").read_text().splitlines()]
    specs = [l[2:].strip() for l in lines if l.startswith("- ") and re.match(r"- scikit[-_]learn\b", l)]
    assert specs == [f"scikit-learn=={SKLEARN_VERSION}"]


def test_runtime_requirements_agree_with_pyproject():
    deps = _pyproject_deps()
    for spec in RUNTIME_REQUIREMENTS:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in deps, f"{name} is in the layer/EC2 requirements but not in pyproject.toml"
        assert str(deps[name].specifier) == str(req.specifier), name


def test_the_lock_is_exact_and_equal_to_pyprojects_pins():
    """One lock of the training and serving stack: every package exactly, as pyproject pins it."""
    deps = _pyproject_deps()
    assert set(LOCK) == {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "boto3"}
    for name, version in LOCK.items():
        assert re.fullmatch(r"\d+\.\d+(\.\d+)?", version), name
        assert str(deps[canonicalize_name(name)].specifier) == f"=={version}", name


def test_layer_and_instance_read_the_lock():
    assert set(TRAINING_REQUIREMENTS) == {f"{n}=={v}" for n, v in LOCK.items()}
    assert set(RUNTIME_REQUIREMENTS) <= set(TRAINING_REQUIREMENTS)
    assert "boto3" not in " ".join(RUNTIME_REQUIREMENTS)  # Lambda's runtime provides boto3
    from layer_build import build

    assert "from model_code.pins import RUNTIME_REQUIREMENTS" in pathlib.Path(build.__file__).read_text()


def test_installed_scikit_learn_is_the_pinned_one():
    import sklearn

    assert sklearn.__version__ == SKLEARN_VERSION, (
        f"this environment has scikit-learn {sklearn.__version__}, the pin is {SKLEARN_VERSION}: "
        "run `make setup` (models trained here would not load in the predict layer)"
    )
