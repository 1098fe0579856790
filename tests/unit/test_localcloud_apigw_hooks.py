"""Guards for the moto internals that localcloud.ssm.commands, .events.schedules and .apigateway.dataplane hook.

Each test names one hook point; a moto upgrade that moves one fails here by name, before
any integration test shows a confusing symptom.
"""
import inspect

import pytest


def params(fn):
    return list(inspect.signature(fn).parameters)


def test_hook_ec2_instance_transitions():
    from moto.ec2.models.instances import Instance, InstanceBackend, InstanceState
    for name in ("start", "stop", "terminate"):
        assert params(getattr(Instance, name)) == ["self"], name
    assert "run_instances" in vars(InstanceBackend)
    s = InstanceState("running", 16)
    assert (s.name, s.code) == ("running", 16)


def test_hook_ssm_send_command_and_command_model():
    from moto.ssm.models import Command, SimpleSystemManagerBackend
    p = params(SimpleSystemManagerBackend.send_command)
    for name in ("instance_ids", "document_name", "parameters", "targets"):
        assert name in p, name
    for name in ("list_commands", "get_command_by_id", "get_command_invocation"):
        assert hasattr(SimpleSystemManagerBackend, name), name
    assert "invocation_response" in vars(Command) and "response_object" in vars(Command)


def test_hook_ssm_targets_moto_does_not_serve():
    # ec2_ssm serves these itself; if moto starts serving them, revisit the middleware.
    from moto.ssm.responses import SimpleSystemManagerResponse
    assert not hasattr(SimpleSystemManagerResponse, "list_command_invocations")
    assert not hasattr(SimpleSystemManagerResponse, "cancel_command")
    assert not hasattr(SimpleSystemManagerResponse, "describe_instance_information")


def test_hook_ssm_command_get_invocation_and_documents():
    from moto.ssm.models import Command, Documents, SimpleSystemManagerBackend
    assert params(Command.get_invocation) == ["self", "instance_id", "plugin_name"]
    assert params(Command.invocation_response) == ["self", "instance_id", "plugin_name"]
    assert "self._documents" in inspect.getsource(SimpleSystemManagerBackend.__init__)
    assert hasattr(Documents, "get_default_version")
    src = inspect.getsource(Command.__init__)
    assert "_get_instance_ids_from_targets" in src, \
        "moto no longer adds Targets' instances itself; revisit ssm.commands.send_command"


def test_hook_events_rules():
    from moto.events.models import EventsBackend, Rule, events_backends  # noqa: F401
    src = inspect.getsource(Rule.__init__)
    for attr in ("self.scheduled_expression", "self.state", "self.targets"):
        assert attr in src, attr
    assert "event_buses" in inspect.getsource(EventsBackend.__init__)


def test_hook_apigateway_models():
    from moto.apigateway.models import APIGatewayBackend, Method, RestAPI, apigateway_backends  # noqa: F401
    assert params(RestAPI.create_deployment)[:2] == ["self", "name"]
    src = inspect.getsource(RestAPI.__init__)
    for attr in ("self.resources", "self.stages", "self.models", "self.request_validators"):
        assert attr in src, attr
    src = inspect.getsource(APIGatewayBackend.__init__)
    for attr in ("self.keys", "self.usage_plans", "self.usage_plan_keys", "self.apis"):
        assert attr in src, attr
    m = Method("POST", "NONE", api_key_required=True, request_models={"application/json": "M"},
               request_validator_id="v")
    assert m.api_key_required and m.request_models and m.request_validator_id == "v"


def test_hook_apigateway_get_usage_not_in_moto():
    # apigateway serves GET /usageplans/{id}/usage itself.
    from moto.apigateway.models import APIGatewayBackend
    assert not hasattr(APIGatewayBackend, "get_usage")


def test_hook_moto_error_serialization_for_foreign_exceptions():
    from moto.core.errors import get_exception_service_model
    from localcloud.ssm.commands import _service_error
    assert get_exception_service_model(_service_error("InvalidInstanceId", "x")) is None


@pytest.mark.parametrize("module", ["localcloud.ssm.commands", "localcloud.events.schedules",
                                    "localcloud.apigateway.dataplane"])
def test_extensions_have_install(module):
    import importlib
    assert callable(importlib.import_module(module).install)


def test_hook_apigateway_control_plane_shapes_and_lookups():
    # localcloud.apigateway.patches and .control read and reshape these
    from moto.apigateway.models import (
        APIGatewayBackend, Integration, IntegrationResponse, Method, Resource, RestAPI,
    )
    for cls in (Method, Integration, IntegrationResponse):
        assert "to_json" in vars(cls), cls
    assert params(APIGatewayBackend.put_integration)[:3] == ["self", "function_id", "resource_id"]
    init = inspect.getsource(APIGatewayBackend.__init__)
    assert "self.apis" in init and "self.vpc_links" in init
    for attr in ("self.resources", "self.request_validators", "self.models"):
        assert attr in inspect.getsource(RestAPI.__init__), attr
    assert "self.resource_methods" in inspect.getsource(Resource.__init__)
    src = inspect.getsource(Method.__init__)
    assert "self.method_responses" in src and "self.method_integration" in src
    src = inspect.getsource(Integration.__init__)
    for attr in ("self.integration_responses", "self.cache_namespace", "self.request_templates",
                 "self.passthrough_behaviour"):
        assert attr in src, attr
    src = inspect.getsource(IntegrationResponse.__init__)
    for attr in ("self.selection_pattern", "self.response_templates", "self.response_parameters"):
        assert attr in src, attr


def test_hook_apigateway_request_validator_and_stages():
    from moto.apigateway.models import RequestValidator
    from moto.apigateway.responses import APIGatewayResponse
    assert "to_dict" in vars(RequestValidator)
    assert params(APIGatewayResponse.get_stages) == ["self"]
    assert '"item"' in inspect.getsource(APIGatewayResponse.get_stages)


def test_hook_apigateway_vpc_links_and_put_integration():
    from moto.apigateway.models import APIGatewayBackend, VpcLink
    from moto.apigateway.responses import APIGatewayResponse
    assert "to_json" in vars(VpcLink)
    assert "self.status" in inspect.getsource(VpcLink.__init__)
    for name in ("create_vpc_link", "get_vpc_links", "put_integration"):
        assert params(getattr(APIGatewayResponse, name)) == ["self"], name
    assert params(APIGatewayBackend.get_integration)[:4] == [
        "self", "function_id", "resource_id", "method_type"]


def test_hook_apigateway_add_model_and_resource_parts():
    # patches.create_rest_api adds AWS's default models; puts reads resources' parts
    from moto.apigateway.models import Resource, RestAPI
    assert params(RestAPI.add_model) == ["self", "name", "description", "schema", "content_type"]
    src = inspect.getsource(Resource.__init__)
    for attr in ("self.path_part", "self.parent_id", "self.resource_methods"):
        assert attr in src, attr


def test_hook_apigateway_stage():
    # patches.stage_dict / stage_updated; updates.update_stage sets access_log_settings
    from moto.apigateway.models import Stage
    assert params(Stage.apply_operations) == ["self", "patch_operations"]
    assert "self.access_log_settings" in inspect.getsource(Stage.__init__)


def test_hook_apigateway_imports():
    # patches.import_rest_api / put_rest_api add the document's documentation parts
    from moto.apigateway.models import APIGatewayBackend
    assert params(APIGatewayBackend.import_rest_api) == ["self", "api_doc", "fail_on_warnings"]
    assert params(APIGatewayBackend.put_rest_api) == [
        "self", "function_id", "api_doc", "fail_on_warnings", "mode"]
