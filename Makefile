# Verbs for the project. On a fresh clone `make walkthrough` and `make test` are
# each one command: both run `setup` first when .venv is missing or stale.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup walkthrough notebooks test unit lab bench clean compat compat-baseline figures parity parity-setup

# The Lambda runtime's own SDK (boto3/botocore as AWS's python3.12 runtime ships them), which
# functions on the local cloud import instead of the operator's venv.
LAMBDA_SDK := build/lambda-runtime/localcloud-sdk.json
# The instance hosts' own Python: a venv with only what the instance's user data installs
# (the training stack, boto3), linked from .venv; never .venv itself (localcloud/ec2/runtime.py).
INSTANCE_RUNTIME := build/instance-runtime/localcloud-instance-runtime.json

setup: $(STAMP) $(LAMBDA_SDK) $(INSTANCE_RUNTIME)

$(LAMBDA_SDK): localcloud/awslambda/runtime_sdk.py $(STAMP)
	$(BIN)/python -m localcloud.awslambda.runtime_sdk install

$(INSTANCE_RUNTIME): localcloud/ec2/runtime.py $(STAMP)
	$(BIN)/python -m localcloud.ec2.runtime install

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# Runs every notebook in notebooks/ in order on the local cloud (started, then
# stopped); executed copies and figures land in build/walkthrough/. It ends with
# 99_teardown: the stack is deleted. KEEP=1 skips 99 and leaves the stack and a
# detached local cloud running (`localcloud down` stops it). DATASET=wine (or
# diabetes, apartments, a dataset.toml path) runs the course on that dataset.
walkthrough: setup
	MLPIPE_DATASET="$(DATASET)" $(BIN)/python -m tools.walkthrough --out build/walkthrough $(if $(KEEP),--keep)

# The architecture pictures the notebooks open with (docs/figures/*.png), drawn by
# tools/figures.py; commit them after a change.
figures: setup
	$(BIN)/python -m tools.figures

# Same run, written back into notebooks/ (outputs kept, counts 1..N): do this
# before committing a changed notebook.
notebooks: setup
	$(BIN)/python -m tools.walkthrough --in-place

# Unit tests, then side by side: the integration tests (against real local clouds, one per
# test worker) and, in the other lane, the compatibility gate's fast subset followed by every
# notebook through nbval (in order, on a local cloud of their own; outputs checked where a
# cell is marked).
# tools/test_all.py runs them and ends with a table of the stages; STAGES="nbval" runs some.
test: setup
	$(BIN)/python -m tools.test_all $(if $(STAGES),--only $(STAGES))

# The compatibility gate: moto's own server-mode tests (from the pinned moto's sdist,
# fetched with pip into build/compat/) against the local cloud, one cloud per test
# worker; fails on any difference not in localcloud/compat/deviations.toml. A fast
# subset runs in `make test`. After changing moto's pin: `make compat-baseline`
# (which of them fail on plain moto_server), then `make compat`.
compat: setup
	$(BIN)/python -m localcloud.compat run -n 3

compat-baseline: setup
	$(BIN)/python -m localcloud.compat baseline -n 3

# The second gate: LocalStack's AWS-validated tests (S3, Lambda, API Gateway, IAM, SSM,
# Logs), each response compared with the snapshot of what real AWS answered, against a
# fresh local cloud; deviations in localcloud/parity/deviations.toml, the pass rate into
# docs/BENCHMARKS.md. Needs a LocalStack checkout (not in `make test`):
#   LOCALSTACK_CHECKOUT=<its git dir> make parity-setup   (once; see localcloud/parity/README.md)
parity: setup
	$(BIN)/python -m localcloud.parity run

parity-setup: setup
	$(BIN)/python -m localcloud.parity setup

lab: setup
	$(BIN)/jupyter lab notebooks/

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf build .pytest_cache .localcloud
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
