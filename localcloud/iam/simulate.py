"""The IAM policy simulator, SimulatePrincipalPolicy and SimulateCustomPolicy (moto has
neither), answered from the cloud's own evaluator (policy.py), as the IAM API reference
describes them (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html,
API_SimulateCustomPolicy.html, API_EvaluationResult.html):

- SimulatePrincipalPolicy evaluates the identity policies of the user, group or role named by
  `PolicySourceArn` (inline and attached; a user's include its groups'), plus any
  `PolicyInputList` documents, for each of `ActionNames` on each of `ResourceArns` (`*`
  without them); SimulateCustomPolicy evaluates only `PolicyInputList`;
- one EvaluationResult per action: `EvalDecision` `allowed`, `explicitDeny` or
  `implicitDeny`, the statements that decided (`MatchedStatements`: the policy's id, type
  `IAM Policy`, and where the statement starts and ends in the document), the condition keys
  the context lacked (`MissingContextValues`), `OrganizationsDecisionDetail` (no
  organization here: allowed), and with ResourceArns one `ResourceSpecificResults` entry per
  resource. With one resource the result names it; with several it names `*` and decides
  `explicitDeny` if any resource is explicitly denied, `allowed` if all are allowed;
- positions are 1-based lines and columns, each just after the statement's opening and
  closing brace (AWS's recorded answer for a one-line policy: columns 41 and 113 for a
  statement whose braces are the 40th and 112th characters, LocalStack's test_iam snapshot);
- a PolicySourceArn that names no user, group or role: `NoSuchEntity`; `ContextEntries`
  (ContextKeyName, ContextKeyValues) feed the conditions.

Not simulated (answered 501 NotImplemented naming the member, never ignored): `ResourcePolicy`,
`PermissionsBoundaryPolicyInputList`, `ResourceHandlingOption`, `PolicyExclusionList`.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from ..core.moto_request import account_of
from .conditions import UnknownOperator
from .credentials import _default_document
from .policy import PolicyError, compile_policy, statement_applies
from .served import ServiceError, listed, result, xml_value

_NOT_SIMULATED = ("ResourcePolicy", "PermissionsBoundaryPolicyInputList",
                  "ResourceHandlingOption", "PolicyExclusionList")
_WS = " \t\r\n"
_CONDITION_KEY = re.compile(r"^[A-Za-z0-9-]+:[A-Za-z0-9_./-]+")


# ---- where each statement sits in its document ----------------------------------------------
def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def statement_spans(text: str) -> list[tuple[int, int]]:
    """(index of `{`, index of `}`) of each statement of a policy document, in order."""
    dec = json.JSONDecoder()
    i = _skip(text, 0)
    if not text.startswith("{", i):
        return []
    i += 1
    while True:
        i = _skip(text, i)
        if text.startswith("}", i) or i >= len(text):
            return []
        key, i = dec.raw_decode(text, i)
        i = _skip(text, _skip(text, i) + 1)  # past the ':'
        start = i
        _, end = dec.raw_decode(text, i)
        if key == "Statement":
            if text[start] == "{":
                return [(start, end - 1)]
            spans, j = [], start + 1
            while True:
                j = _skip(text, j)
                if text.startswith("]", j):
                    return spans
                _, e = dec.raw_decode(text, j)
                if text[j] == "{":
                    spans.append((j, e - 1))
                j = _skip(text, e)
                if text.startswith(",", j):
                    j += 1
        i = _skip(text, end)
        if text.startswith(",", i):
            i += 1


def _position(text: str, index: int) -> dict:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return {"Line": line, "Column": column + 1}


# ---- the principal's policies ---------------------------------------------------------------
def principal_documents(account: str, arn: str) -> list[tuple[str, str]]:
    """(policy id, document) of the identity policies of the user, group or role `arn`."""
    from moto.iam.exceptions import NoSuchEntity, NotFoundException
    from moto.iam.models import iam_backends

    iam = iam_backends[account]["aws"]
    kind = arn.split(":", 5)[5].split("/", 1)[0] if arn.count(":") >= 5 else ""
    name = arn.rsplit("/", 1)[-1]
    holders: list[Any] = []
    try:
        if kind == "role":
            holders = [iam.get_role_by_arn(arn)]
        elif kind == "user":
            user = iam.get_user(name)
            if user.arn != arn:
                raise NotFoundException(f"The user with name {name} cannot be found.")
            holders = [user, *iam.get_groups_for_user(name)]
        elif kind == "group":
            group = iam.get_group(name)
            if group.arn != arn:
                raise NotFoundException(f"Group {name} not found")
            holders = [group]
        else:
            raise ServiceError("InvalidInput", f"Invalid PolicySourceArn {arn}: it names no "
                               "user, group or role")
    except (NoSuchEntity, NotFoundException) as exc:
        raise ServiceError("NoSuchEntity", exc.message, 404) from None
    docs = []
    for holder in holders:
        docs += [(name, doc) for name, doc in holder.policies.items()]
        for policy in holder.managed_policies.values():
            doc = _default_document(policy)
            if doc:
                docs.append((policy.name, doc))
    return docs


# ---- the simulation -------------------------------------------------------------------------
def _text(doc: Any) -> str:
    if isinstance(doc, dict):
        return json.dumps(doc)
    if doc.startswith(("%7B", "%7b")):
        from urllib.parse import unquote
        return unquote(doc)
    return doc


def _condition_keys(condition: dict | None) -> set[str]:
    keys: set[str] = set()
    for block in (condition or {}).values():
        if isinstance(block, dict):
            keys.update(k for k in block if _CONDITION_KEY.match(k))
    return keys


def _decide(policies: list[tuple[str, str, list]], action: str, resource: str,
            context: dict) -> tuple[str, list[dict], list[str]]:
    allow, deny, missing = [], [], set()
    for policy_id, text, compiled in policies:
        spans = statement_spans(text)
        for n, st in enumerate(compiled):
            try:
                applies = statement_applies(st, action, resource, context, None)
            except UnknownOperator:
                applies = False
            if st.condition and not applies:
                if statement_applies(replace(st, condition=None), action, resource, context):
                    missing |= {k for k in _condition_keys(st.condition)
                                if k.lower() not in context}
            if not applies:
                continue
            matched = {"SourcePolicyId": policy_id, "SourcePolicyType": "IAM Policy"}
            if n < len(spans):
                matched["StartPosition"] = _position(text, spans[n][0])
                matched["EndPosition"] = _position(text, spans[n][1])
            (deny if st.effect == "Deny" else allow if st.effect == "Allow" else []).append(matched)
    if deny:
        return "explicitDeny", deny, sorted(missing)
    if allow:
        return "allowed", allow, sorted(missing)
    return "implicitDeny", [], sorted(missing)


def _statements(items: list[dict]) -> str:
    out = []
    for m in items:
        pos = "".join(f"<{k}><Line>{m[k]['Line']}</Line><Column>{m[k]['Column']}</Column></{k}>"
                      for k in ("StartPosition", "EndPosition") if k in m)
        out.append(f"<member><SourcePolicyId>{xml_value(m['SourcePolicyId'])}</SourcePolicyId>"
                   f"<SourcePolicyType>{m['SourcePolicyType']}</SourcePolicyType>{pos}</member>")
    return f"<MatchedStatements>{''.join(out)}</MatchedStatements>"


def _missing(keys: list[str]) -> str:
    return "<MissingContextValues>" + "".join(
        f"<member>{xml_value(k)}</member>" for k in keys) + "</MissingContextValues>"


def _context(params: dict[str, str]) -> dict:
    context: dict = {}
    n = 1
    while f"ContextEntries.member.{n}.ContextKeyName" in params:
        key = params[f"ContextEntries.member.{n}.ContextKeyName"].lower()
        values = listed(params, f"ContextEntries.member.{n}.ContextKeyValues")
        context[key] = values[0] if len(values) == 1 else values
        n += 1
    return context


def simulate(policies: list[tuple[str, Any]], actions: list[str], resources: list[str],
             context: dict) -> list[dict]:
    """One result per action (see the module's docstring), as plain dicts."""
    compiled = []
    for policy_id, doc in policies:
        text = _text(doc)
        try:
            if not isinstance(json.loads(text), dict):
                raise PolicyError("a policy document is a JSON object")
            compiled.append((policy_id, text, compile_policy(text)))
        except (PolicyError, ValueError, RecursionError) as exc:
            raise ServiceError("MalformedPolicyDocument", f"{policy_id}: {exc}") from None
    results = []
    for action in actions:
        per_resource = []
        for resource in resources or ["*"]:
            decision, matched, missing = _decide(compiled, action, resource, context)
            per_resource.append({"EvalResourceName": resource, "EvalResourceDecision": decision,
                                 "MatchedStatements": matched, "MissingContextValues": missing})
        decisions = {r["EvalResourceDecision"] for r in per_resource}
        overall = "explicitDeny" if "explicitDeny" in decisions else \
            "implicitDeny" if "implicitDeny" in decisions else "allowed"
        one = per_resource[0] if len(per_resource) == 1 else None
        results.append({
            "EvalActionName": action,
            "EvalResourceName": one["EvalResourceName"] if one else "*",
            "EvalDecision": overall,
            "MatchedStatements": one["MatchedStatements"] if one else
            [m for r in per_resource for m in r["MatchedStatements"]],
            "MissingContextValues": sorted({k for r in per_resource
                                            for k in r["MissingContextValues"]}),
            "ResourceSpecificResults": per_resource if resources else None,
        })
    return results


def _result_xml(r: dict) -> str:
    specific = ""
    if r["ResourceSpecificResults"] is not None:
        specific = "<ResourceSpecificResults>" + "".join(
            f"<member><EvalResourceName>{xml_value(s['EvalResourceName'])}</EvalResourceName>"
            f"<EvalResourceDecision>{s['EvalResourceDecision']}</EvalResourceDecision>"
            f"{_statements(s['MatchedStatements'])}{_missing(s['MissingContextValues'])}</member>"
            for s in r["ResourceSpecificResults"]) + "</ResourceSpecificResults>"
    return (f"<member><EvalActionName>{xml_value(r['EvalActionName'])}</EvalActionName>"
            f"<EvalResourceName>{xml_value(r['EvalResourceName'])}</EvalResourceName>"
            f"<EvalDecision>{r['EvalDecision']}</EvalDecision>"
            f"{_statements(r['MatchedStatements'])}{_missing(r['MissingContextValues'])}"
            "<EvalDecisionDetails/><OrganizationsDecisionDetail><AllowedByOrganizations>true"
            f"</AllowedByOrganizations></OrganizationsDecisionDetail>{specific}</member>")


def _serve(op: str, environ: dict, params: dict[str, str]) -> bytes:
    for member in _NOT_SIMULATED:
        if any(k == member or k.startswith(member + ".") for k in params):
            raise ServiceError("NotImplemented", f"{op} with {member} is not simulated by the "
                               "local cloud", 501)
    policies = [(f"PolicyInputList.{n}", doc)
                for n, doc in enumerate(listed(params, "PolicyInputList"), 1)]
    if op == "SimulatePrincipalPolicy":
        policies = principal_documents(account_of(environ), params.get("PolicySourceArn", "")) \
            + policies
    results = simulate(policies, listed(params, "ActionNames"),
                       listed(params, "ResourceArns"), _context(params))
    return result(op, "<EvaluationResults>" + "".join(_result_xml(r) for r in results)
                  + "</EvaluationResults><IsTruncated>false</IsTruncated>")


HANDLERS = {op: (lambda environ, params, op=op: _serve(op, environ, params))
            for op in ("SimulatePrincipalPolicy", "SimulateCustomPolicy")}
