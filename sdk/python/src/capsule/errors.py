"""Errors the SDK raises, and how it classifies the broker's answers to a hello."""

from __future__ import annotations

import re

__all__ = [
    "CapsuleError",
    "LedgerUnavailable",
    "FINAL_HELLO_ERRORS",
    "HELLO_RETRY_SECONDS",
    "is_final_hello_error",
    "validate_identifier",
    "IDENTIFIER_PATTERN",
]


class CapsuleError(Exception):
    """Base class of the errors this SDK raises."""


class LedgerUnavailable(CapsuleError):
    """The command ledger could not be written, so the command must not run."""


#: The syntax of agent codes, service codes and action names (docs/protocol.md).
IDENTIFIER_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)

#: Refusals of a hello that no retry can fix: the agent logs them once at ERROR and sends no
#: further hello until the process restarts (the host keeps running).
FINAL_HELLO_ERRORS = frozenset(
    {
        "token_invalid",
        "token_used",
        "token_expired",
        "token_revoked",
        "token_code_mismatch",
        "agent_code_taken",
        "agent_code_mismatch",
        "agent_revoked",
        "not_an_agent",
        "enrollment_token_required",
        "service_owned",
        "invalid_identifier",
        "too_many_services",
    }
)

#: Every other refusal (`agent_disabled`, `internal`, anything unknown) is retried this often.
HELLO_RETRY_SECONDS = 30.0


def is_final_hello_error(code: str) -> bool:
    """Whether a hello refused with `code` must not be retried."""
    return code in FINAL_HELLO_ERRORS


def validate_identifier(kind: str, value: object) -> str:
    """Returns `value` if it is a valid identifier, else raises ValueError naming `kind`."""
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise ValueError(
            f"invalid {kind} {value!r}: it must match ^{IDENTIFIER_PATTERN}$ "
            "(1-64 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit)"
        )
    return value
