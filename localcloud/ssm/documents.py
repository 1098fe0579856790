"""SSM Command documents as the agent runs them: parameters checked and substituted, steps.

A Command document (schema 1.2 `runtimeConfig`, or 2.0/2.2 `mainSteps`) becomes a list of
`Step`s, one per plugin, with `{{ name }}` replaced by the command's parameter values (a
`StringList` parameter that is a whole list element or value, like AWS-RunShellScript's
`"runCommand": "{{ commands }}"`, expands to its items). Parameters: the document's declared
ones only (else `InvalidParameters`), a declared default used when one is not given, one
without a default required, `allowedValues` and `allowedPattern` enforced. AWS-RunShellScript
is the AWS-owned document of that name (moto has no AWS documents), defined the same way.

Only `aws:runShellScript` steps run locally; any other action is a step that fails, saying so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

RUN_SHELL_SCRIPT = "AWS-RunShellScript"
RUN_SHELL_ACTION = "aws:runShellScript"
DEFAULT_EXECUTION_TIMEOUT = 3600

# AWS-RunShellScript as AWS defines it (schema 1.2; parameters and their defaults).
RUN_SHELL_SCRIPT_CONTENT: dict = {
    "schemaVersion": "1.2",
    "description": "Run a shell script or specify the commands to run.",
    "parameters": {
        "commands": {"type": "StringList", "description": "(Required) Specify a shell script "
                     "or a command to run.", "minItems": 1, "displayType": "textarea"},
        "workingDirectory": {"type": "String", "default": "", "description": "(Optional) The "
                             "path to the working directory on your instance.", "maxChars": 4096},
        "executionTimeout": {"type": "String", "default": "3600", "description": "(Optional) "
                             "The time in seconds for a command to complete before it is "
                             "considered to have failed. Default is 3600 (1 hour). Maximum is "
                             "172800 (48 hours).",
                             "allowedPattern": "([1-9][0-9]{0,4})|(1[0-6][0-9]{4})|(17[0-1][0-9]{3})|(172[0-7][0-9]{2})|(172800)"},
    },
    "runtimeConfig": {
        RUN_SHELL_ACTION: {
            "properties": [{"id": "0.aws:runShellScript", "runCommand": "{{ commands }}",
                            "workingDirectory": "{{ workingDirectory }}",
                            "timeoutSeconds": "{{ executionTimeout }}"}],
        },
    },
}


class DocumentError(ValueError):
    """A SendCommand that SSM refuses: `code` is AWS's error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Step:
    name: str                      # the plugin name (CommandPlugins[].Name, PluginName)
    action: str
    commands: tuple[str, ...] = ()
    working_directory: str = ""
    timeout_seconds: int = DEFAULT_EXECUTION_TIMEOUT


_REF = re.compile(r"\{\{\s*([A-Za-z0-9_.:/-]+)\s*\}\}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v if isinstance(v, str) else _scalar(v) for v in value]
    return [_scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_parameters(declared: dict, given: dict | None, document: str) -> dict[str, Any]:
    """name -> str (String and other scalar types) or list[str] (StringList)."""
    given = dict(given or {})
    if given and not declared:
        raise DocumentError("InvalidParameters", f"document {document} does not support parameters.")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise DocumentError("InvalidParameters",
                            f"Parameter \"{unknown[0]}\" is not declared in document {document}.")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        spec = spec or {}
        ptype = spec.get("type", "String")
        if name in given:
            raw = _as_list(given[name])
        elif "default" in spec:
            raw = _as_list(spec["default"])
        else:
            raise DocumentError(
                "InvalidParameters",
                f"You must specify values for all required parameters in the document "
                f"{document}: \"{name}\" has no value and no default.")
        if ptype == "StringList":
            value: Any = raw
            items = raw
            if spec.get("minItems") and len(raw) < int(spec["minItems"]):
                raise DocumentError("InvalidParameters",
                                    f"Parameter \"{name}\" needs at least {spec['minItems']} value(s).")
        else:
            if len(raw) > 1:
                raise DocumentError("InvalidParameters",
                                    f"Parameter \"{name}\" is a {ptype} and takes one value, "
                                    f"got {len(raw)}.")
            value = raw[0] if raw else ""
            items = [value]
        allowed = spec.get("allowedValues")
        if allowed is not None:
            bad = [v for v in items if v not in [_scalar(a) for a in allowed]]
            if bad:
                raise DocumentError("InvalidParameters",
                                    f"Parameter \"{name}\": value {bad[0]!r} is not one of the "
                                    f"allowed values {allowed}.")
        pattern = spec.get("allowedPattern")
        if pattern and name in given:
            bad = [v for v in items if re.fullmatch(pattern, v) is None]
            if bad:
                raise DocumentError("InvalidParameters",
                                    f"Parameter \"{name}\": value {bad[0]!r} fails to match "
                                    f"the allowed pattern {pattern}.")
        values[name] = value
    return values


def substitute(value: Any, params: dict[str, Any]) -> Any:
    """Replace `{{ name }}` in strings, lists and dicts; a list element (or a whole value)
    that is exactly one StringList reference becomes its items."""
    if isinstance(value, str):
        m = _REF.fullmatch(value.strip())
        if m and isinstance(params.get(m.group(1)), list):
            return list(params[m.group(1)])
        return _REF.sub(lambda r: _text(params, r), value)
    if isinstance(value, list):
        out: list = []
        for item in value:
            sub = substitute(item, params)
            if isinstance(sub, list) and isinstance(item, str):
                out.extend(sub)
            else:
                out.append(sub)
        return out
    if isinstance(value, dict):
        return {k: substitute(v, params) for k, v in value.items()}
    return value


def _text(params: dict[str, Any], ref: re.Match) -> str:
    name = ref.group(1)
    if name not in params:
        return ref.group(0)  # not ours to resolve (e.g. {{ssm:...}}): left as written
    v = params[name]
    return "\n".join(v) if isinstance(v, list) else str(v)


def _timeout(raw: Any, step: str) -> int:
    text = _scalar(raw).strip() if raw not in (None, "") else ""
    if not text:
        return DEFAULT_EXECUTION_TIMEOUT
    try:
        n = int(text)
    except ValueError:
        raise DocumentError("InvalidParameters", f"step {step}: timeoutSeconds/executionTimeout "
                            f"must be a whole number of seconds, got {text!r}") from None
    if n < 1:
        raise DocumentError("InvalidParameters", f"step {step}: timeoutSeconds/executionTimeout "
                            f"must be at least 1 second, got {n}")
    return n


def _raw_steps(content: dict) -> list[tuple[str, str, dict]]:
    """(plugin name, action, inputs) for each step of a 1.2 or 2.x document."""
    schema = str(content.get("schemaVersion", ""))
    if schema == "1.2":
        out = []
        for action, cfg in (content.get("runtimeConfig") or {}).items():
            for prop in (cfg or {}).get("properties") or []:
                out.append((action, action, dict(prop or {})))
        return out
    if schema.startswith("2."):
        return [(str(s.get("name") or s.get("action")), str(s.get("action")),
                 dict(s.get("inputs") or {})) for s in content.get("mainSteps") or []]
    raise DocumentError("InvalidDocument", f"schemaVersion {schema!r} is not a Command "
                        "document schema (1.2, 2.0, 2.2)")


def steps_for(content: dict, document: str, given: dict | None) -> list[Step]:
    """The document's steps with this command's parameters substituted (SendCommand time)."""
    params = resolve_parameters(content.get("parameters") or {}, given, document)
    steps = []
    for name, action, inputs in _raw_steps(content):
        inputs = substitute(inputs, params)
        if action != RUN_SHELL_ACTION:
            steps.append(Step(name=name, action=action))
            continue
        commands = inputs.get("runCommand") or []
        if isinstance(commands, str):
            commands = [commands]
        steps.append(Step(name=name, action=action,
                          commands=tuple(_scalar(c) for c in commands),
                          working_directory=_scalar(inputs.get("workingDirectory") or ""),
                          timeout_seconds=_timeout(inputs.get("timeoutSeconds"), name)))
    return steps


def build_script(commands: list[str] | tuple[str, ...]) -> str:
    """The commands as one bash script that stops at the first failing line."""
    body = "\n".join(str(c) for c in commands)
    return "#!/bin/bash\nset -e\n" + body + "\n"
