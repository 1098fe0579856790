"""Build the two layer zips (python packages; model code), cached by what goes into them.

A build stages ``python/<pkg>`` in a scratch dir, trims it (trim.py), strips extension modules,
compiles unchecked-hash .pyc for the target Python (bytecode.py) and writes a deterministic zip
(zipdet.py) to ``<out>/<cache key>/<layer>.zip`` beside a ``manifest.json``. The cache key hashes
the inputs: installed versions (local) or requirements (aws), target, Python version, platform,
whether bytecode is on, and the source of layer_build itself; the same inputs are a cache hit.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import bytecode, sources, trim, zipdet
from .limits import ArtifactSize, SizeReport

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "build" / "layers"
PACKAGES = "python-packages"
MODEL_CODE = "model-code"
LAYER_NAMES = (PACKAGES, MODEL_CODE)   # what the predict function is deployed with
SKLEARN_STACK = "sklearn-stack"        # the scikit-learn stack as a layer: built to be measured
TARGETS = ("local", "aws")

Progress = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


@dataclass(frozen=True)
class LayerArtifact:
    name: str
    target: str
    zip_path: Path
    sha256: str              # of the zip: the content hash publishing compares
    cache_key: str
    cache_hit: bool
    files: int
    unzipped_bytes: int
    zipped_bytes: int
    python_version: str
    bytecode: bool
    sourceless: bool = False
    versions: dict = field(default_factory=dict)
    trimmed: dict = field(default_factory=dict)
    warnings: tuple = ()

    def size(self) -> ArtifactSize:
        return ArtifactSize(self.name, "layer", self.unzipped_bytes, self.zipped_bytes, str(self.zip_path))


@dataclass(frozen=True)
class BuildResult:
    layers: tuple[LayerArtifact, ...]
    report: SizeReport

    def layer(self, name: str) -> LayerArtifact:
        for a in self.layers:
            if a.name == name:
                return a
        raise KeyError(f"no layer {name!r} in this build (have: {[a.name for a in self.layers]})")

    def to_dict(self) -> dict:
        layers = []
        for a in self.layers:
            d = asdict(a)
            d["zip_path"] = str(a.zip_path)
            layers.append(d)
        return {"layers": layers, "report": self.report.to_dict()}


def builder_fingerprint() -> str:
    """Hash of layer_build's own source: changing a rule invalidates every cached build."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).parent.glob("*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def target_python_version(target: str) -> str:
    _check_target(target)
    return "%d.%d" % sys.version_info[:2] if target == "local" else sources.AWS_PYTHON_VERSION


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}: use one of {', '.join(TARGETS)}")


def _cached(out: Path, key: str, name: str) -> LayerArtifact | None:
    d = out / key
    manifest, zp = d / "manifest.json", d / f"{name}.zip"
    if not (manifest.is_file() and zp.is_file()):
        return None
    m = json.loads(manifest.read_text())
    if zipdet.sha256_file(zp) != m["sha256"]:
        return None   # a damaged cache entry is rebuilt, not trusted
    m.update(zip_path=zp, cache_hit=True, warnings=tuple(m.get("warnings", ())))
    return LayerArtifact(**m)


def _finish(out: Path, key: str, name: str, stage_root: Path, meta: dict, *, force: bool = False) -> LayerArtifact:
    """Zip the staged tree into the cache (atomically: a half-written entry is never a hit);
    ``force`` replaces an entry of the same key that is already there."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=out))
    try:
        info = zipdet.write_zip(stage_root, tmp / f"{name}.zip")
        record = dict(meta, name=name, cache_key=key, sha256=info["sha256"], files=info["files"],
                      unzipped_bytes=info["unzipped_bytes"], zipped_bytes=info["zipped_bytes"])
        (tmp / "manifest.json").write_text(json.dumps(record, indent=2, sort_keys=True))
        final = out / key
        try:
            if force:
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)  # atomic while no entry of that key is there
        except OSError:
            # Another build of the same key (a test worker, a notebook) finished first: its
            # entry is the same layer. Only a damaged entry is replaced.
            theirs = None if force else _cached(out, key, name)
            if theirs is not None:
                return theirs
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    record.update(zip_path=final / f"{name}.zip", cache_hit=False, warnings=tuple(record.get("warnings", ())))
    return LayerArtifact(**record)


def _compile(python_dir: Path, version: str, bytecode_on: bool, progress: Progress,
             python: str | None, sourceless: bool = False) -> tuple[bool, list[str]]:
    if not bytecode_on:
        return False, []
    progress(f"compiling .pyc (unchecked-hash) for Python {version}"
             + (" in place of the .py sources" if sourceless else ""))
    res = bytecode.compile_tree(python_dir, version, python=python, sourceless=sourceless)
    if res.warning:
        progress(res.warning)
    return res.compiled, [res.warning] if res.warning else []


def _effective_bytecode(target: str, bytecode_on: bool, python: str | None) -> tuple[bool, str | None]:
    """Whether .pyc can be written for the target, and by which interpreter."""
    if not bytecode_on:
        return False, None
    interp = python or bytecode.find_interpreter(target_python_version(target))
    return interp is not None, interp


def build_packages_layer(target: str = "local", out: Path | str | None = None, *, bytecode_on: bool = True,
                         force: bool = False, progress: Progress = _quiet, python: str | None = None,
                         requirements: Sequence[str] | None = None,
                         stack: str = sources.SERVING_STACK, roots: Iterable[str] | None = None,
                         rules: Sequence[trim.Rule] = trim.RULES, strip: bool = True,
                         keep_sources: bool = False) -> LayerArtifact:
    """A python-packages layer: the ``stack``'s roots (``sources.STACKS``) and their run-time deps.

    ``stack="numpy"`` (default) is what the predict function carries, named ``python-packages``;
    ``stack="scikit-learn"`` (scikit-learn, numpy, scipy, joblib, threadpoolctl), named
    ``sklearn-stack``, is what serving the pickled model would need (built to be measured,
    never published). With bytecode, the third-party ``.py`` are replaced by their ``.pyc``
    (sourceless) unless ``keep_sources``: smaller, at the cost of source text in tracebacks
    from inside these packages (file and line numbers remain).
    """
    _check_target(target)
    roots = tuple(roots) if roots is not None else sources.stack_roots(stack)
    name = PACKAGES if stack == sources.SERVING_STACK else SKLEARN_STACK
    out = Path(out or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    version = target_python_version(target)
    can_compile, interp = _effective_bytecode(target, bytecode_on, python)
    sourceless = can_compile and not keep_sources
    parts = {"layer": name, "roots": sorted(roots), "target": target, "python": version, "bytecode": can_compile,
             "sourceless": sourceless,
             "builder": builder_fingerprint(), "rules": [r.name for r in rules], "strip": strip}
    dists: list[sources.InstalledDist] = []
    if target == "local":
        dists = sources.resolve_installed(roots)
        parts.update(platform=sysconfig.get_platform(), cache_tag=sys.implementation.cache_tag,
                     dists={d.name: d.version for d in dists})
    else:
        if requirements is None:
            from model_code.pins import RUNTIME_REQUIREMENTS   # the one place the stack is pinned
            requirements = sources.requirements_for(roots, RUNTIME_REQUIREMENTS)
        parts.update(platforms=list(sources.AWS_PLATFORMS), requirements=list(requirements),
                     excluded=sorted(sources.EXCLUDED_DISTRIBUTIONS))
    key = _key(parts)
    if not force and (hit := _cached(out, key, name)):
        progress(f"{name}: cache hit {hit.zip_path}")
        return hit
    with tempfile.TemporaryDirectory(prefix=".stage-", dir=out) as stage:
        python_dir = Path(stage) / "python"
        python_dir.mkdir()
        if target == "local":
            progress(f"{name}: copying {len(dists)} installed distributions "
                     f"({', '.join(f'{d.name}=={d.version}' for d in dists)})")
            sources.copy_installed(dists, python_dir)
            versions = {d.name: d.version for d in dists}
        else:
            progress(f"{name}: pip install for {', '.join(sources.AWS_PLATFORMS)}, cp{version}")
            sources.pip_install(python_dir, list(requirements), python_version=version)
            removed = sources.remove_excluded(python_dir)
            if removed:
                progress(f"{name}: removed excluded distributions pulled in by pip: {removed}")
            versions = sources.pip_target_versions(python_dir)
        progress(f"{name}: trimming")
        trimmed = trim.trim_tree(python_dir, rules)
        if strip:
            trimmed["strip-extensions"] = trim.strip_extensions(python_dir)
        compiled, warnings = _compile(python_dir, version, can_compile, progress, interp, sourceless)
        if bytecode_on and not compiled and not warnings:
            warnings = ["WARNING: bytecode requested but not written"]
        if bytecode_on and not can_compile:
            warnings = [f"WARNING: no python{version} found: the layer has NO bytecode and "
                        "recompiles at every cold start"]
        meta = {"target": target, "python_version": version, "bytecode": compiled,
                "sourceless": sourceless and compiled,
                "versions": versions, "trimmed": trimmed, "warnings": warnings}
        progress(f"{name}: writing zip")
        return _finish(out, key, name, Path(stage), meta, force=force)


def model_code_dir() -> Path:
    return REPO_ROOT / "model_code"


def _source_files(src: Path) -> list[Path]:
    """The files of a source tree that ship (zipdet's one exclude list)."""
    return [path for _arc, path in zipdet.source_files(src)]


def tree_fingerprint(src: Path) -> str:
    h = hashlib.sha256()
    for p in _source_files(src):
        h.update(p.relative_to(src).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def build_model_code_layer(target: str = "local", out: Path | str | None = None, *, bytecode_on: bool = True,
                           force: bool = False, progress: Progress = _quiet, python: str | None = None,
                           src: Path | None = None) -> LayerArtifact:
    """The model-code layer: the repo's model_code/ package as python/model_code/."""
    _check_target(target)
    out = Path(out or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    src = Path(src or model_code_dir())
    if not (src / "__init__.py").is_file():
        raise FileNotFoundError(f"{src} is not a python package (no __init__.py)")
    version = target_python_version(target)
    can_compile, interp = _effective_bytecode(target, bytecode_on, python)
    key = _key({"layer": MODEL_CODE, "target": target, "python": version, "bytecode": can_compile,
                "builder": builder_fingerprint(), "source": tree_fingerprint(src), "package": src.name})
    if not force and (hit := _cached(out, key, MODEL_CODE)):
        progress(f"{MODEL_CODE}: cache hit {hit.zip_path}")
        return hit
    with tempfile.TemporaryDirectory(prefix=".stage-", dir=out) as stage:
        pkg = Path(stage) / "python" / src.name
        for f in _source_files(src):
            dest = pkg / f.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
        compiled, warnings = _compile(Path(stage) / "python", version, can_compile, progress, interp)
        if bytecode_on and not can_compile:
            warnings = [f"WARNING: no python{version} found: model-code layer has NO bytecode"]
        meta = {"target": target, "python_version": version, "bytecode": compiled,
                "versions": {"model_code": tree_fingerprint(src)[:12]}, "trimmed": {}, "warnings": warnings}
        return _finish(out, key, MODEL_CODE, Path(stage), meta, force=force)


def function_size(function_dir: Path, out: Path | str | None = None) -> ArtifactSize:
    """The function's own deployment zip (handler code only), built deterministically to be measured."""
    function_dir = Path(function_dir)
    if not function_dir.is_dir():
        raise FileNotFoundError(f"function code dir {function_dir} does not exist")
    out = Path(out or DEFAULT_OUT)
    zp = out / "functions" / f"{function_dir.name}.zip"
    # The very zip mlpipe deploys (mlpipe.functions.build_zip): same files, same builder.
    info = zipdet.write_zip_files(zipdet.function_files(function_dir), zp)
    return ArtifactSize(f"function:{function_dir.name}", "function", info["unzipped_bytes"],
                        info["zipped_bytes"], str(zp))


def default_function_dir() -> Path:
    return REPO_ROOT / "lambda_code" / "predict"


def build_layers(target: str = "local", out: Path | str | None = None, *,
                 layers: Sequence[str] = LAYER_NAMES, bytecode_on: bool = True, force: bool = False,
                 keep_sources: bool = False, stack: str = sources.SERVING_STACK,
                 function_dir: Path | None = None, progress: Progress = _quiet) -> BuildResult:
    """Build (or take from the cache) the named layers and report their sizes against AWS's limits.

    ``stack`` picks the packages layer's content (``sources.STACKS``): ``numpy`` is what the
    predict function is deployed with; ``scikit-learn`` builds the heavy stack to measure it."""
    unknown = [n for n in layers if n not in LAYER_NAMES]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}: use {', '.join(LAYER_NAMES)}")
    out = Path(out or DEFAULT_OUT)
    built = []
    for name in layers:
        if name == PACKAGES:
            built.append(build_packages_layer(target, out, bytecode_on=bytecode_on, force=force,
                                              progress=progress, keep_sources=keep_sources, stack=stack))
        else:
            built.append(build_model_code_layer(target, out, bytecode_on=bytecode_on, force=force,
                                                progress=progress))
    artifacts = [a.size() for a in built]
    notes = []
    fdir = Path(function_dir) if function_dir else default_function_dir()
    if fdir.is_dir():
        artifacts.append(function_size(fdir, out))
    else:
        notes.append(f"note: function code {fdir} not found; its size is not counted")
    for a in built:
        notes.append(f"{a.name}: {'cache hit' if a.cache_hit else 'built'}, Python {a.python_version}, "
                     f"bytecode {'yes' if a.bytecode else 'NO'}"
                     f"{' (sourceless)' if a.sourceless else ''}, sha256 {a.sha256[:12]}")
        notes.extend(a.warnings)
    return BuildResult(tuple(built), SizeReport(tuple(artifacts), notes=tuple(notes)))
