"""layer_build without a full build: trimming rules, zips, cache, size limits, the aws pip command."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from layer_build import build, bytecode, sources, trim, zipdet
from layer_build.__main__ import main as cli_main
from layer_build.limits import MAX_DIRECT_UPLOAD_BYTES, MAX_UNZIPPED_BYTES, MIB, ArtifactSize, SizeReport

HOST = "%d.%d" % sys.version_info[:2]


# --- trimming rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("path, rule", [
    ("numpy/__pycache__/__init__.cpython-311.pyc", "host-bytecode"),
    ("sklearn/foo.pyc", "host-bytecode"),
    ("sklearn/tests/test_base.py", "test-suites"),
    ("scipy/sparse/linalg/tests/data/x.npz", "test-suites"),
    ("joblib/test/test_memory.py", "test-suites"),
    ("numpy/f2py/tests/test_kind.py", "test-suites"),
    ("numpy/_core/include/numpy/ndarraytypes.h", "headers"),
    ("scipy/special/special.h", "headers"),
    ("sklearn/tree/_tree.pyx", "compiled-sources"),
    ("sklearn/tree/_tree.pxd", "compiled-sources"),
    ("scipy/linalg/cython_blas.pxd", "compiled-sources"),
    ("sklearn/_loss/_loss.pyx.tp", "compiled-sources"),
    ("scipy/foo/bar.c", "compiled-sources"),
    ("numpy/random/LICENSE.md", "docs"),
    ("numpy/doc/ufuncs.py", "docs"),
    ("numpy/__init__.pyi", "type-stubs"),
    ("numpy/_core/lib/libnpymath.a", "build-files"),
    ("numpy/_core/lib/pkgconfig/numpy.pc", "build-files"),
    ("numpy/distutils/core.py", "build-tools"),
    ("sklearn/_build_utils/version.py", "build-tools"),
    ("numpy-2.4.6.dist-info/RECORD", "dist-info-extras"),
    ("numpy-2.4.6.dist-info/INSTALLER", "dist-info-extras"),
    ("scipy-1.17.1.dist-info/WHEEL", "dist-info-extras"),
    ("bin/f2py", "scripts"),
])
def test_dropped_paths_name_their_rule(path, rule):
    assert trim.drop_reason(path) == rule


@pytest.mark.parametrize("path", [
    # the runtime traps: each found by importing and predicting from a trimmed layer
    "numpy/_core/tests/_natype.py",
    "numpy/f2py/__init__.py",
    "numpy/f2py/src/fortranobject.c",
    "numpy/testing/__init__.py",                      # scipy._lib._array_api imports numpy.testing
    "sklearn/externals/array_api_extra/testing/_testing.py",
    "sklearn/datasets/descr/breast_cancer.rst",       # load_breast_cancer reads it
    # ordinary runtime files
    "sklearn/__init__.py",
    "sklearn/linear_model/_logistic.py",
    "scipy/sparse/linalg/_isolve/iterative.py",
    "sklearn/tree/_tree.cpython-311-x86_64-linux-gnu.so",
    "numpy.libs/libscipy_openblas64_-32a4b2a6.so",
    "sklearn/datasets/data/breast_cancer.csv",
    # minimal dist-info: importlib.metadata.version reads METADATA (sklearn checks versions)
    "scikit_learn-1.9.1.dist-info/METADATA",
    "numpy-2.4.6.dist-info/entry_points.txt",
    "numpy-2.4.6.dist-info/LICENSE.txt",
    "scipy-1.17.1.dist-info/licenses/LICENSE.txt",
])
def test_kept_paths(path):
    assert trim.drop_reason(path) is None


def test_host_bytecode_never_survives_even_in_a_kept_place():
    assert trim.drop_reason("numpy/_core/tests/__pycache__/_natype.cpython-311.pyc") == "host-bytecode"
    assert trim.drop_reason("numpy/f2py/__pycache__/__init__.cpython-311.pyc") == "host-bytecode"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x.py", "numpy/../../x.py"])
def test_paths_outside_the_layer_are_refused(bad):
    with pytest.raises(ValueError, match="relative to python/"):
        trim.drop_reason(bad)


def test_bundled_libraries_are_never_strip_candidates(tmp_path):
    for rel in ["numpy.libs/libscipy_openblas64_.so", "scipy.libs/libgfortran-1.so.5.0.0",
                "scipy/linalg/_fblas.cpython-311-x86_64-linux-gnu.so", "sklearn/_isotonic.so"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\x7fELF")
    got = [p.relative_to(tmp_path).as_posix() for p in trim.strippable_extensions(tmp_path)]
    assert got == ["scipy/linalg/_fblas.cpython-311-x86_64-linux-gnu.so", "sklearn/_isotonic.so"]
    assert trim.is_bundled_library("numpy.libs/libscipy_openblas64_.so")


def test_trim_tree_deletes_counts_and_prunes_empty_dirs(tmp_path):
    files = {"pkg/__init__.py": b"x = 1\n", "pkg/tests/test_a.py": b"assert 1\n" * 10,
             "pkg/__pycache__/__init__.cpython-311.pyc": b"0" * 7, "pkg/core.h": b"int;"}
    for rel, data in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    stats = trim.trim_tree(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["pkg", "pkg/__init__.py"]
    assert stats["test-suites"] == {"files": 1, "bytes": 90}
    assert stats["host-bytecode"] == {"files": 1, "bytes": 7}
    assert stats["headers"]["files"] == 1


# --- deterministic zips -----------------------------------------------------------------------

def _tree(root: Path) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "mod.py").write_text("def f():\n    return 2\n")
    so = root / "pkg" / "ext.so"
    so.write_bytes(b"\x7fELF fake")
    so.chmod(0o700)
    return root


def test_zip_is_byte_identical_across_builds_whatever_the_mtimes_and_modes(tmp_path):
    a = _tree(tmp_path / "a")
    b = _tree(tmp_path / "b")
    import os
    os.utime(b / "pkg" / "__init__.py", (1_700_000_000, 1_700_000_000))
    (b / "pkg" / "sub" / "mod.py").chmod(0o600)
    za = zipdet.write_zip(a, tmp_path / "a.zip", prefix="python/")
    zb = zipdet.write_zip(b, tmp_path / "b.zip", prefix="python/")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    assert za["sha256"] == zb["sha256"]
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
    assert modes == {"python/pkg/__init__.py": 0o644, "python/pkg/ext.so": 0o755,
                     "python/pkg/sub/mod.py": 0o644}
    assert za["unzipped_bytes"] == zipdet.unzipped_size(tmp_path / "a.zip")


# --- bytecode ---------------------------------------------------------------------------------

def test_bytecode_is_unchecked_hash_for_the_target_and_recorded_at_opt(tmp_path):
    root = _tree(tmp_path / "t")
    res = bytecode.compile_tree(root, HOST)
    assert res.compiled and res.warning is None
    pyc = root / "pkg" / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    data = pyc.read_bytes()
    import importlib.util
    assert data[:4] == importlib.util.MAGIC_NUMBER
    flags = int.from_bytes(data[4:8], "little")
    assert flags == 0b01, "hash-based (bit 0) and unchecked (bit 1 clear)"
    import marshal
    code = marshal.loads(data[16:])
    assert code.co_filename == "/opt/python/pkg/__init__.py"


def test_sourceless_bytecode_replaces_the_sources_and_still_imports(tmp_path):
    root = _tree(tmp_path / "t")
    bytecode.compile_tree(root, HOST, sourceless=True)
    assert not list(root.rglob("*.py"))
    assert (root / "pkg" / "sub" / "mod.pyc").is_file()
    import subprocess
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c",
                          f"import sys; sys.path.insert(0, {str(root)!r}); import pkg.sub.mod as m; print(m.f())"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"


def test_no_target_interpreter_means_no_bytecode_and_a_loud_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(bytecode, "find_interpreter", lambda v: None)
    root = _tree(tmp_path / "t")
    res = bytecode.compile_tree(root, "3.99")
    assert not res.compiled and "NO bytecode" in res.warning
    assert not list(root.rglob("*.pyc"))


def test_a_wrong_version_interpreter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not the target 3.99"):
        bytecode.compile_tree(_tree(tmp_path / "t"), "3.99", python=sys.executable)


def test_find_interpreter_checks_what_it_finds(monkeypatch, tmp_path):
    assert bytecode.find_interpreter(HOST) == sys.executable
    fake = tmp_path / "python3.99"
    fake.write_text("#!/bin/sh\nexit 127\n")   # like a pyenv shim for a version not selected
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "nopyenv"))
    monkeypatch.delenv("LAYER_BUILD_PYTHON", raising=False)
    assert bytecode.find_interpreter("3.99") is None


# --- sources ----------------------------------------------------------------------------------

def test_resolve_installed_follows_requires_dist_and_skips_pandas_and_the_runtime():
    dists = {d.name: d for d in sources.resolve_installed(sources.STACKS["scikit-learn"])}
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"} <= set(dists)
    assert not set(dists) & {"pandas", "boto3", "botocore", "python-dateutil", "six", "urllib3"}
    import sklearn
    assert dists["scikit-learn"].version == sklearn.__version__
    rels = {str(rel) for _src, rel in dists["scikit-learn"].files}
    assert "sklearn/__init__.py" in rels
    assert not any(r.startswith("..") for r in rels)


def test_resolve_installed_names_a_missing_distribution():
    with pytest.raises(sources.SourceError, match="not-a-real-dist.*make setup"):
        sources.resolve_installed(["not-a-real-dist"])


def test_aws_pip_command_asks_for_lambdas_wheels_only(tmp_path):
    cmd = sources.pip_command(tmp_path / "python", ["scikit-learn==1.9.1", "numpy>=1.26"], python="py")
    assert cmd[:4] == ["py", "-m", "pip", "install"]
    assert "--only-binary=:all:" in cmd and "--no-compile" in cmd
    plats = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--platform"]
    assert plats == ["manylinux2014_x86_64", "manylinux_2_28_x86_64"]
    assert cmd[cmd.index("--python-version") + 1] == "3.12"
    assert cmd[cmd.index("--implementation") + 1] == "cp"
    assert cmd[cmd.index("--target") + 1] == str(tmp_path / "python")
    assert cmd[-2:] == ["scikit-learn==1.9.1", "numpy>=1.26"]
    legacy = sources.pip_command("d", ["x"], platforms=sources.AWS_PLATFORMS_LEGACY, python_version="3.11")
    assert [legacy[i + 1] for i, c in enumerate(legacy) if c == "--platform"] == ["manylinux2014_x86_64"]


@pytest.mark.parametrize("kw, msg", [({"python_version": "312"}, "3.12"), ({"platforms": ()}, "platform")])
def test_aws_pip_command_rejects_bad_input(kw, msg):
    with pytest.raises(ValueError, match=msg):
        sources.pip_command("d", ["x"], **kw)
    with pytest.raises(ValueError, match="no requirements"):
        sources.pip_command("d", [])


def test_aws_build_uses_the_pins_and_reports_pip_failure(tmp_path, monkeypatch):
    seen = {}

    def fake_install(target_dir, requirements, **kw):
        seen["requirements"] = list(requirements)
        raise sources.SourceError("pip could not install (offline)")

    monkeypatch.setattr(sources, "pip_install", fake_install)
    from model_code.pins import RUNTIME_REQUIREMENTS
    with pytest.raises(sources.SourceError, match="offline"):
        build.build_packages_layer("aws", tmp_path, bytecode_on=False)
    # the predict layer: numpy alone, at its pin
    assert seen["requirements"] == [r for r in RUNTIME_REQUIREMENTS if r.startswith("numpy")]
    with pytest.raises(sources.SourceError, match="offline"):
        build.build_packages_layer("aws", tmp_path, bytecode_on=False, stack="scikit-learn")
    assert seen["requirements"] == list(RUNTIME_REQUIREMENTS)


def test_a_stack_without_a_pin_is_refused():
    with pytest.raises(sources.SourceError, match="no pin"):
        sources.requirements_for(["numpy", "pandas"], ["numpy==2.0.0"])
    with pytest.raises(ValueError, match="unknown package stack"):
        sources.stack_roots("tensorflow")


# --- cache ------------------------------------------------------------------------------------

def _fake_pkg(root: Path) -> Path:
    pkg = root / "model_code"
    (pkg / "tests").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "schema.py").write_text("FEATURES = 30\n")
    (pkg / "tests" / "test_x.py").write_text("")
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "schema.cpython-311.pyc").write_bytes(b"stale")
    return pkg


def test_model_code_layer_cache_hit_and_rebuild_on_change(tmp_path):
    src = _fake_pkg(tmp_path / "src")
    out = tmp_path / "out"
    first = build.build_model_code_layer("local", out, src=src)
    assert not first.cache_hit and first.bytecode
    with zipfile.ZipFile(first.zip_path) as zf:
        names = zf.namelist()
    assert "python/model_code/schema.py" in names
    assert f"python/model_code/__pycache__/schema.{sys.implementation.cache_tag}.pyc" in names
    assert not any(n.endswith("/test_x.py") for n in names)
    with zipfile.ZipFile(first.zip_path) as zf:   # the build machine's stale .pyc was not copied
        import importlib.util
        assert all(zf.read(n).startswith(importlib.util.MAGIC_NUMBER) for n in names if n.endswith(".pyc"))

    again = build.build_model_code_layer("local", out, src=src)
    assert again.cache_hit and again.sha256 == first.sha256 and again.zip_path == first.zip_path

    forced = build.build_model_code_layer("local", out, src=src, force=True)
    assert not forced.cache_hit and forced.zip_path.read_bytes() == first.zip_path.read_bytes()

    (src / "schema.py").write_text("FEATURES = 31\n")
    changed = build.build_model_code_layer("local", out, src=src)
    assert not changed.cache_hit and changed.sha256 != first.sha256 and changed.cache_key != first.cache_key


def test_a_damaged_cache_entry_is_rebuilt(tmp_path):
    src = _fake_pkg(tmp_path / "src")
    first = build.build_model_code_layer("local", tmp_path / "out", src=src)
    first.zip_path.write_bytes(b"truncated")
    again = build.build_model_code_layer("local", tmp_path / "out", src=src)
    assert not again.cache_hit and again.sha256 == first.sha256


def test_two_builds_of_one_layer_at_once_both_succeed(tmp_path, monkeypatch):
    """A test worker and a notebook may build the same layer into one cache at once: the one
    that finishes second takes the other's entry instead of failing on the rename."""
    src = _fake_pkg(tmp_path / "src")
    out = tmp_path / "out"
    first = build.build_model_code_layer("local", out, src=src)
    real, calls = build._cached, []

    def cached_after_the_first_look(*a):  # the second build looked before the first had finished
        calls.append(a)
        return None if len(calls) == 1 else real(*a)

    monkeypatch.setattr(build, "_cached", cached_after_the_first_look)
    second = build.build_model_code_layer("local", out, src=src)
    assert second.cache_hit and second.sha256 == first.sha256 and second.zip_path == first.zip_path
    assert sorted(p.name for p in out.iterdir()) == [first.cache_key]  # no staging dir left behind


def test_cache_key_covers_target_python_bytecode_and_builder(tmp_path, monkeypatch):
    src = _fake_pkg(tmp_path / "src")
    a = build.build_model_code_layer("local", tmp_path / "o", src=src)
    b = build.build_model_code_layer("local", tmp_path / "o", src=src, bytecode_on=False)
    assert a.cache_key != b.cache_key and not b.bytecode
    monkeypatch.setattr(build, "builder_fingerprint", lambda: "another-builder")
    c = build.build_model_code_layer("local", tmp_path / "o", src=src)
    assert c.cache_key != a.cache_key and not c.cache_hit


def test_unknown_target_and_layer_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown target 'gcp'"):
        build.build_model_code_layer("gcp", tmp_path)
    with pytest.raises(ValueError, match="unknown layer"):
        build.build_layers("local", tmp_path, layers=["pandas-layer"])


# --- size report ------------------------------------------------------------------------------

def _report(*sizes_mib, zipped_mib=10, kind="layer"):
    arts = [ArtifactSize(f"l{i}", kind, int(s * MIB), int(zipped_mib * MIB)) for i, s in enumerate(sizes_mib)]
    return SizeReport(tuple(arts))


def test_size_report_within_limits():
    r = _report(150, 0.1)
    assert not r.over_limit and not r.needs_s3 and r.problems() == []
    assert "within limits" in r.table() and "AWS limit" in r.table()


def test_size_report_over_250_mib_names_the_numbers():
    r = SizeReport((ArtifactSize("python-packages", "layer", 240 * MIB, 60 * MIB),
                    ArtifactSize("function:predict", "function", 11 * MIB, 1 * MIB)))
    assert r.over_limit
    assert r.total_unzipped_bytes == 251 * MIB
    (problem,) = r.problems()
    assert "251.0 MiB" in problem and "250 MiB" in problem and "python-packages 240.0 MiB" in problem
    assert "OVER THE LIMIT" in r.table()
    assert r.needs_s3 == ("python-packages",)


def test_size_report_exactly_at_the_limits_is_allowed():
    r = SizeReport((ArtifactSize("a", "layer", MAX_UNZIPPED_BYTES, MAX_DIRECT_UPLOAD_BYTES),))
    assert not r.over_limit and not r.needs_s3
    r2 = SizeReport((ArtifactSize("a", "layer", 1, MAX_DIRECT_UPLOAD_BYTES + 1),))
    assert r2.needs_s3 == ("a",) and r2.artifacts[0].needs_s3


def test_size_report_more_than_five_layers_is_over():
    r = _report(*[1] * 6)
    assert r.over_limit and r.too_many_layers and "6 layers" in r.problems()[0]
    assert not _report(*[1] * 5).over_limit


def test_size_report_json_is_serialisable():
    d = _report(100, zipped_mib=51).to_dict()
    json.dumps(d)
    assert d["needs_s3"] == ["l0"] and d["artifacts"][0]["needs_s3"] is True


# --- CLI --------------------------------------------------------------------------------------

def test_cli_prints_the_report_as_json(tmp_path, capsys, monkeypatch):
    fake = build.BuildResult((), SizeReport((ArtifactSize("python-packages", "layer", 300 * MIB, 80 * MIB),)))
    import layer_build.__main__ as cli
    monkeypatch.setattr(cli, "build_layers", lambda *a, **k: fake)
    assert cli_main(["--out", str(tmp_path), "--json"]) == 2     # over the limit
    d = json.loads(capsys.readouterr().out)
    assert d["report"]["over_limit"] is True


def test_cli_bad_target_exits_nonzero(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["--target", "gcp"])
    assert e.value.code == 2
