"""The built layers, alone, in an isolated interpreter: the predict function's (numpy + the
export loader) serve without scikit-learn; the scikit-learn stack still builds and predicts.

Builds the local-target layers once per session (cached under build/layers/, so re-runs are
fast) and runs ``python -I -S -B`` with sys.path = the stdlib + the extracted layers' python/
dirs only. This is what verifies every trimming rule: a rule that removed something needed
at run time fails here.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import shutil
import zipfile
from pathlib import Path

import pytest

from layer_build import MODEL_CODE, PACKAGES, build_layers
from layer_build.build import build_packages_layer
from layer_build.verify import SmokeTestError, extract_layers, run_isolated, smoke_test
from model_code.pins import SKLEARN_VERSION

MB = 1_000_000


@pytest.fixture(scope="session")
def built():
    return build_layers("local")


@pytest.fixture(scope="session")
def zips(built):
    return [built.layer(PACKAGES).zip_path, built.layer(MODEL_CODE).zip_path]


@pytest.fixture(scope="session")
def smoke(zips):
    return smoke_test(zips, extra_imports=["model_code", "model_code.schema", "model_code.pins"])


@pytest.fixture(scope="session")
def sklearn_zips(built):
    return [build_packages_layer("local", stack="scikit-learn").zip_path, built.layer(MODEL_CODE).zip_path]


def test_imports_and_predicts_from_the_layers_alone(smoke):
    assert smoke["proba_rows"] == 5 and smoke["proba_sums"] == [1.0] * 5
    assert smoke["forest_proba"] == [[1.0, 0.0], [0.0, 1.0]]
    assert smoke["numpy_version"] == md.version("numpy")     # importlib.metadata works from the layer
    assert smoke["outside_modules"] == []                    # nothing but stdlib and the layers
    assert smoke["heavy_modules"] == []                      # no scikit-learn, scipy, joblib, pandas
    assert smoke["sklearn_version"] is None and smoke["pandas_importable"] is False


def test_the_scikit_learn_stack_still_builds_and_predicts(sklearn_zips):
    got = smoke_test(sklearn_zips, stack="scikit-learn")
    assert got["proba_rows"] == 5 and got["sklearn_version"] == SKLEARN_VERSION
    assert got["outside_modules"] == [] and got["pandas_importable"] is False
    assert got["modules_from_layers"] > 300 and got["modules_without_bytecode"] == []


def test_every_module_loaded_from_the_layers_has_bytecode(smoke, built):
    assert built.layer(PACKAGES).bytecode and built.layer(MODEL_CODE).bytecode
    assert smoke["modules_without_bytecode"] == []


def test_packages_layer_size_meets_the_acceptance(built):
    pk = built.layer(PACKAGES)
    assert pk.unzipped_bytes <= 60 * MB, f"{pk.unzipped_bytes / MB:.1f} MB unzipped with bytecode"
    assert pk.zipped_bytes < 50 * MB and not built.report.needs_s3
    assert not built.report.over_limit, built.report.table()
    with zipfile.ZipFile(pk.zip_path) as zf:
        names = zf.namelist()
    assert all(n.startswith("python/") for n in names)
    assert not any("/tests/" in n and not n.endswith("_natype.pyc") for n in names)
    assert not any(n.startswith("python/pandas/") for n in names)
    assert not any("/__pycache__/" in n and ".cpython-" in n and sys_tag() not in n for n in names)


def sys_tag() -> str:
    import sys
    return sys.implementation.cache_tag


def test_bundled_libraries_are_byte_identical_and_extensions_stripped(built):
    import numpy
    site = Path(numpy.__file__).resolve().parents[1]
    with zipfile.ZipFile(built.layer(PACKAGES).zip_path) as zf:
        libs = [n for n in zf.namelist() if n.startswith(("python/numpy.libs/",))]
        assert libs
        for n in libs:
            installed = (site / n[len("python/"):]).read_bytes()
            assert hashlib.sha256(zf.read(n)).digest() == hashlib.sha256(installed).digest(), n
        exts = [n for n in zf.namelist() if n.endswith(".so") and ".libs/" not in n]
        layer_total = sum(zf.getinfo(n).file_size for n in exts)
    installed_total = sum((site / n[len("python/"):]).stat().st_size for n in exts)
    assert layer_total < installed_total


@pytest.mark.parametrize("victim", ["numpy/f2py", "numpy/testing"])
def test_the_kept_runtime_traps_are_needed(sklearn_zips, tmp_path, victim):
    """Remove what trim.py keeps on purpose: the scikit-learn stack's import must then fail."""
    dirs = extract_layers(sklearn_zips, tmp_path)
    shutil.rmtree(dirs[0] / victim)
    with pytest.raises(SmokeTestError, match=victim.replace("/", r"\.")):
        run_isolated(dirs, stack="scikit-learn")


def test_rebuild_with_nothing_changed_is_a_cache_hit(built):
    again = build_layers("local")
    assert [a.cache_hit for a in again.layers] == [True, True]
    assert [a.sha256 for a in again.layers] == [a.sha256 for a in built.layers]


def test_versions_in_the_layer_are_the_installed_ones(built):
    versions = built.layer(PACKAGES).versions
    assert versions == {"numpy": md.version("numpy")}


def test_compare_stacks_puts_the_serving_layer_beside_the_scikit_learn_stack(tmp_path):
    from layer_build.compare import compare_stacks
    from mlpipe.plots import plot_layer_stacks

    cmp = compare_stacks("local", runs=1)
    light, heavy = cmp.stack("numpy"), cmp.stack("scikit-learn")
    assert set(light.packages) == {"numpy"} and {"scikit-learn", "scipy", "joblib"} <= set(heavy.packages)
    assert light.layer.unzipped_bytes * 2 < heavy.layer.unzipped_bytes
    assert light.row()["upload"] == "direct" and light.row()["within_limits"]
    assert 0 < light.cold_import_s < heavy.cold_import_s
    table = cmp.table()
    assert "numpy" in table and "scikit-learn" in table and "250" in table
    fig = plot_layer_stacks(cmp, path=tmp_path / "stacks.png")
    assert (tmp_path / "stacks.png").stat().st_size > 1000 and len(fig.axes) == 2
