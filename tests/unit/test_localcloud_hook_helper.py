"""localcloud.core.hooks: the one helper every service uses to hook moto (install with the
cloud, restore on stop/reset)."""
import types

import pytest

from localcloud.core import hooks
from localcloud.core.hooks import HookPointMissing, Hooks, install_hook


class Base:
    def inherited(self):
        return "base"


class Target(Base):
    def method(self, x):
        return ("orig", x)

    @staticmethod
    def static(x):
        return ("static", x)


def test_patch_a_method_with_the_original_in_hand_and_restore_it():
    own = Target.__dict__["method"]
    h = install_hook(Target, "method", lambda original: lambda self, x: ("hooked",) + original(self, x))
    assert Target().method(1) == ("hooked", "orig", 1)
    assert hooks.original(Target, "method") is own and hooks.is_hooked(Target, "method")
    h.remove()
    assert Target.__dict__["method"] is own and Target().method(2) == ("orig", 2)
    assert not hooks.is_hooked(Target, "method")
    h.remove()  # idempotent
    assert Target.__dict__["method"] is own


def test_a_staticmethod_comes_back_as_a_staticmethod():
    h = install_hook(Target, "static", lambda original: staticmethod(lambda x: ("hooked", original(x))))
    assert Target.static(1) == ("hooked", ("static", 1))
    h.remove()
    assert isinstance(Target.__dict__["static"], staticmethod)
    assert Target().static(3) == ("static", 3)


def test_an_inherited_attribute_is_removed_again_not_copied_down():
    h = install_hook(Target, "inherited", lambda original: lambda self: "hooked " + original(self))
    assert Target().inherited() == "hooked base"
    h.remove()
    assert "inherited" not in Target.__dict__ and Target().inherited() == "base"


def test_module_attributes_and_stacked_hooks_unwind_last_in_first_out():
    mod = types.ModuleType("fake_moto_module")
    mod.send = lambda v: [v]
    first = install_hook(mod, "send", lambda original: lambda v: original(v) + ["a"])
    second = install_hook(mod, "send", lambda original: lambda v: original(v) + ["b"])
    assert mod.send(0) == [0, "a", "b"]
    with pytest.raises(RuntimeError, match="later hook"):
        first.remove()
    second.remove()
    first.remove()
    assert mod.send(0) == [0]


def test_a_hook_point_moto_lost_fails_by_name():
    with pytest.raises(HookPointMissing, match=r"Target\.no_such_method"):
        install_hook(Target, "no_such_method", lambda original: original)


def test_hooks_group_removes_all():
    group = Hooks()
    group.install(Target, "method", lambda original: lambda self, x: "m")
    group.install(Target, "static", lambda original: staticmethod(lambda x: "s"))
    assert len(group) == 2 and Target().method(1) == "m" and Target.static(1) == "s"
    group.remove_all()
    assert Target().method(1) == ("orig", 1) and Target.static(1) == ("static", 1)


def _moto_hook_points():
    from moto.apigateway.models import RestAPI
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.ec2.models.instances import Instance, InstanceBackend
    from moto.s3 import notifications
    from moto.s3.models import S3Backend
    from moto.ssm.models import Command, SimpleSystemManagerBackend

    return [(LambdaFunction, "invoke"), (LambdaBackend, "publish_layer_version"),
            (notifications, "_invoke_awslambda"),
            (S3Backend, "put_object"), (InstanceBackend, "run_instances"),
            (Instance, "start"), (Instance, "stop"), (Instance, "terminate"),
            (SimpleSystemManagerBackend, "send_command"), (Command, "get_invocation"),
            (LambdaBackend, "create_function"), (LambdaBackend, "update_function_configuration"),
            (RestAPI, "create_deployment")]


def test_every_service_hook_is_installed_with_the_cloud_and_restored_on_stop(tmp_path):
    from localcloud.core.cloud import LocalCloud, active_cloud

    assert active_cloud() is None, "unit tests run no session cloud; one is left running"
    points = _moto_hook_points()
    before = {(id(o), n): vars(o)[n] for o, n in points}
    cloud = LocalCloud(port=0, state_dir=tmp_path / "state", code_cache_dir=tmp_path / "code")
    cloud.start()
    try:
        hooked = [f"{getattr(o, '__name__', o)}.{n}" for o, n in points if vars(o)[n] is before[(id(o), n)]]
        assert not hooked, f"not hooked while running: {hooked}"
        assert all(hooks.is_hooked(o, n) for o, n in points)
        counts = [len(hooks._installed[(id(o), n)]) for o, n in points]
        cloud.reset()  # reset = uninstall + install: hooked again, not twice over
        assert [len(hooks._installed[(id(o), n)]) for o, n in points] == counts
    finally:
        cloud.stop()
    left = [f"{getattr(o, '__name__', o)}.{n}" for o, n in points if vars(o)[n] is not before[(id(o), n)]]
    assert not left, f"not restored after stop: {left}"
