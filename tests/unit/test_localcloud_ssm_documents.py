"""localcloud.ssm.documents: Command documents to steps, parameters checked and substituted."""
import pytest

from localcloud.ssm.documents import (
    RUN_SHELL_SCRIPT, RUN_SHELL_SCRIPT_CONTENT, DocumentError, Step, resolve_parameters,
    steps_for, substitute,
)


def test_aws_run_shell_script_expands_commands_and_takes_its_defaults():
    steps = steps_for(RUN_SHELL_SCRIPT_CONTENT, RUN_SHELL_SCRIPT, {"commands": ["echo a", "echo b"]})
    assert steps == [Step(name="aws:runShellScript", action="aws:runShellScript",
                          commands=("echo a", "echo b"), working_directory="", timeout_seconds=3600)]
    steps = steps_for(RUN_SHELL_SCRIPT_CONTENT, RUN_SHELL_SCRIPT,
                      {"commands": ["pwd"], "workingDirectory": ["work"], "executionTimeout": ["7"]})
    assert (steps[0].working_directory, steps[0].timeout_seconds) == ("work", 7)


@pytest.mark.parametrize("given, fragment", [
    ({}, "required"),
    ({"commands": ["x"], "colour": ["red"]}, 'Parameter "colour" is not declared'),
    ({"commands": ["x"], "executionTimeout": ["0"]}, "allowed pattern"),
    ({"commands": ["x"], "executionTimeout": ["soon"]}, "allowed pattern"),
    ({"commands": ["x"], "workingDirectory": ["a", "b"]}, "takes one value"),
])
def test_parameters_ssm_refuses(given, fragment):
    with pytest.raises(DocumentError) as err:
        steps_for(RUN_SHELL_SCRIPT_CONTENT, RUN_SHELL_SCRIPT, given)
    assert err.value.code == "InvalidParameters" and fragment in err.value.message


def test_a_document_without_parameters_refuses_any():
    with pytest.raises(DocumentError, match="does not support parameters"):
        resolve_parameters({}, {"x": ["1"]}, "mydoc")


def test_allowed_values():
    declared = {"mode": {"type": "String", "allowedValues": ["fast", "slow"], "default": "fast"}}
    assert resolve_parameters(declared, {}, "d") == {"mode": "fast"}
    with pytest.raises(DocumentError, match="allowed values"):
        resolve_parameters(declared, {"mode": ["medium"]}, "d")


def test_substitute_strings_lists_and_unknown_references():
    params = {"who": "world", "cmds": ["a", "b"]}
    assert substitute("hello {{ who }}/{{who}}", params) == "hello world/world"
    assert substitute("{{ cmds }}", params) == ["a", "b"]
    assert substitute(["first", "{{ cmds }}", "last {{ who }}"], params) == ["first", "a", "b", "last world"]
    assert substitute("echo {{ cmds }} done", params) == "echo a\nb done"
    assert substitute("{{ssm:/my/param}} {{ other }}", params) == "{{ssm:/my/param}} {{ other }}"
    assert substitute({"k": ["{{ who }}"], "n": 3}, params) == {"k": ["world"], "n": 3}


def test_schema_2_2_steps_in_order_and_other_actions_kept_as_steps():
    doc = {"schemaVersion": "2.2", "parameters": {"n": {"type": "String", "default": "1"}},
           "mainSteps": [
               {"action": "aws:runShellScript", "name": "one",
                "inputs": {"runCommand": ["echo {{ n }}"], "timeoutSeconds": "{{ n }}"}},
               {"action": "aws:runPowerShellScript", "name": "two", "inputs": {"runCommand": ["x"]}}]}
    one, two = steps_for(doc, "d", {"n": ["5"]})
    assert (one.name, one.commands, one.timeout_seconds) == ("one", ("echo 5",), 5)
    assert (two.name, two.action, two.commands) == ("two", "aws:runPowerShellScript", ())


def test_not_a_command_schema():
    with pytest.raises(DocumentError) as err:
        steps_for({"schemaVersion": "0.3", "mainSteps": []}, "auto", None)
    assert err.value.code == "InvalidDocument"
