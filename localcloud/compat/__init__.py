"""The compatibility gate: moto's own server-mode tests run against the local cloud.

`python -m localcloud.compat run` (make compat) and `... run --fast` (in make test);
gate.py says what it checks, plugin.py how each test worker gets a cloud of its own,
deviations.toml where and why the local cloud differs from moto, moto_baseline.toml which
of moto's tests fail on plain moto_server too.
"""
