"""Redaction of secret-looking keys (design brief §5), applied before anything leaves the process.

A key is sensitive when its name ENDS in one of the words token, secret, password, cookie,
authorization, api key, private key or credential. Words are split at case changes and at `_`,
`-`, `.` (and whitespace), and compared case-insensitively. So `accessToken`, `client_secret`,
`x-api-key`, `privateKey` and `APIKey` are sensitive, while `tokenId`, `revokedTokens` and
`publicKey` are not. The two-word endings also match written as one word (`apikey`).
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["PLACEHOLDER", "is_secret_key", "split_words", "redact"]

PLACEHOLDER = "[REDACTED]"

_SEPARATORS = re.compile(r"[_\-.\s]+")
# An acronym before a capitalised word (API|Key), a capitalised or lowercase word, an acronym, digits.
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_ONE_WORD_ENDINGS = frozenset({"token", "secret", "password", "cookie", "authorization", "credential",
                               "apikey", "privatekey"})
_TWO_WORD_ENDINGS = frozenset({("api", "key"), ("private", "key")})


def split_words(key: str) -> list[str]:
    """The lowercase words of a key: `x-api-key` and `xApiKey` both give ['x', 'api', 'key']."""
    words: list[str] = []
    for part in _SEPARATORS.split(key):
        words.extend(word.lower() for word in _WORDS.findall(part))
    return words


def is_secret_key(key: str) -> bool:
    """Whether values under `key` must never leave the process."""
    words = split_words(key)
    if not words:
        return False
    if words[-1] in _ONE_WORD_ENDINGS:
        return True
    return len(words) >= 2 and (words[-2], words[-1]) in _TWO_WORD_ENDINGS


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of `value` in which every value under a secret-looking key is `[REDACTED]`.

    Recurses through dicts and lists; when `key` itself is secret-looking the whole value goes.
    Strings inside lists are values, not keys, and stay as they are.
    """
    if key is not None and is_secret_key(key):
        return PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v, k if isinstance(k, str) else None) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value
