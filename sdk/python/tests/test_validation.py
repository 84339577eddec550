"""Identifiers, declarations and hello-error classification: bad input fails at construction."""

from __future__ import annotations

import pytest

import capsule
from capsule.errors import FINAL_HELLO_ERRORS, is_final_hello_error

GOOD = ["billing", "billing-bridge", "a", "0", "x.y_z-1", "a" * 64]
BAD = ["", "Billing", "-billing", ".x", "_x", "a" * 65, "billing bridge", "billing/bridge", "bïlling", "billing\n",
       "ALLCAPS", None, 42]


@pytest.mark.parametrize("code", GOOD)
def test_valid_identifiers_are_accepted(code: str) -> None:
    agent = capsule.Agent(code, home="/nonexistent")
    service = agent.service(code)

    @service.action(code)
    def handler(payload: object, ctx: capsule.ActionContext) -> None:
        return None

    assert code in service.actions


@pytest.mark.parametrize("code", BAD)
def test_invalid_identifiers_raise_value_error(code: object) -> None:
    with pytest.raises(ValueError, match="must match"):
        capsule.Agent(code, home="/nonexistent")  # type: ignore[arg-type]
    agent = capsule.Agent("ok", home="/nonexistent")
    with pytest.raises(ValueError, match="invalid service code"):
        agent.service(code)  # type: ignore[arg-type]
    service = agent.service("ok")
    with pytest.raises(ValueError, match="invalid action name"):
        service.action(code)  # type: ignore[arg-type]


def test_declarations_refuse_bad_input_clearly() -> None:
    agent = capsule.Agent("ok", home="/nonexistent")
    service = agent.service("svc")
    with pytest.raises(ValueError, match="already declared"):
        agent.service("svc")
    with pytest.raises(ValueError, match="sensitive"):
        capsule.Config("apiKey", "s3cr3t", sensitive=True)
    with pytest.raises(ValueError, match="not a JSON value"):
        capsule.Config("when", object())
    with pytest.raises(ValueError, match="danger"):
        service.action("a", danger="EXTREME")
    with pytest.raises(ValueError, match="whole number"):
        service.action("a", timeout=2.5)
    with pytest.raises(ValueError, match="between"):
        service.action("a", timeout=0)
    with pytest.raises(ValueError, match="JSON Schema object"):
        service.action("a", input_schema=["type"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="two arguments"):
        service.action("a")(lambda payload: None)
    with pytest.raises(ValueError, match="error code"):
        capsule.Result.failed("Not A Code", "x")
    with pytest.raises(ValueError, match="health status"):
        capsule.Health("SIDEWAYS")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="appears twice"):
        service.configs([capsule.Config("a", 1), capsule.Config("a", 2)])

    @service.action("a")
    def handler(payload: object, ctx: capsule.ActionContext) -> None:
        return None

    with pytest.raises(ValueError, match="already declares"):
        service.action("a")


def test_sensitive_configs_carry_only_a_secret_ref() -> None:
    item = capsule.Config("apiKey", sensitive=True, secret_ref="env:BILLING_API_KEY")
    assert item.to_wire() == {"key": "apiKey", "sensitive": True, "secretRef": "env:BILLING_API_KEY"}
    assert capsule.Config("dbPassword", "hunter2").to_wire()["value"] == "[REDACTED]"
    assert capsule.Config("db", {"host": "h", "password": "p"}).to_wire()["value"] == {"host": "h",
                                                                                      "password": "[REDACTED]"}


def test_one_time_result_fields_reach_the_manifest() -> None:
    service = capsule.Agent("ok", home="/nonexistent").service("svc")

    @service.action("issue-key", one_time_result_fields=["privateKey"])
    def handler(payload: object, ctx: capsule.ActionContext) -> None:
        return None

    assert service.actions["issue-key"].definition()["oneTimeResultFields"] == ["privateKey"]


FINAL = ["token_invalid", "token_used", "token_expired", "token_revoked", "token_code_mismatch", "agent_code_taken",
         "agent_code_mismatch", "agent_revoked", "not_an_agent", "enrollment_token_required", "service_owned",
         "invalid_identifier", "too_many_services"]


@pytest.mark.parametrize("code", FINAL)
def test_final_hello_errors(code: str) -> None:
    assert is_final_hello_error(code)


@pytest.mark.parametrize("code", ["agent_disabled", "internal", "timeout", "something_new", ""])
def test_retryable_hello_errors(code: str) -> None:
    assert not is_final_hello_error(code)


def test_the_final_set_is_exactly_the_protocol_list() -> None:
    assert FINAL_HELLO_ERRORS == frozenset(FINAL)
