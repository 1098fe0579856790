"""Fakes shared by the glue Lambdas' unit tests (trigger, worker, stop_ec2, reaper)."""
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from moto.ssm.models import ssm_backends

AMI = "ami-12c6146b"  # moto's built-in example AMI
REGION = "us-east-1"


class FakeLambda:
    """Records the async invokes a handler makes."""

    def __init__(self):
        self.calls = []

    def invoke(self, **kw):
        self.calls.append(kw)
        return {"StatusCode": 202}


class FakeTime:
    """A clock whose sleep advances it and runs an optional hook (to change the world)."""

    def __init__(self, on_sleep=None):
        self.t = 0.0
        self.on_sleep = on_sleep

    def clock(self):
        return self.t

    def sleep(self, s):
        self.t += s
        if self.on_sleep:
            self.on_sleep(self.t)


def set_state(instance_id, name, code):
    """Put a moto instance in any state (pending, stopping...), which moto never holds."""
    inst = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].get_instance(instance_id)
    inst._state.name, inst._state.code = name, code


def backend_command(command_id):
    return next(c for c in ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._commands if c.command_id == command_id)


def set_command_status(command_id, status):
    """Give a moto SSM command any status (moto reports Success at once)."""
    backend_command(command_id).status = status


def commands_stay_pending(monkeypatch):
    """New moto SSM commands stay ``Pending`` (as on AWS until the agent picks them up),
    instead of moto's instant ``Success``."""
    from moto.ssm.models import Command

    real = Command.__init__

    def init(self, *args, **kwargs):
        real(self, *args, **kwargs)
        self.status = "Pending"

    monkeypatch.setattr(Command, "__init__", init)
