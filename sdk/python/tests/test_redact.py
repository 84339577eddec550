"""Design brief §5: a key is sensitive when its name ENDS in a secret word."""

from __future__ import annotations

import json

import pytest

from capsule import PLACEHOLDER, is_secret_key, redact
from capsule.redact import split_words

SECRET_KEYS = [
    "token", "TOKEN", "accessToken", "refresh_token", "x-auth.token", "secret", "client_secret", "clientSecret",
    "password", "db_password", "DB-PASSWORD", "cookie", "Set-Cookie", "authorization", "Authorization",
    "proxy-authorization", "apiKey", "api_key", "x-api-key", "X-Api-Key", "APIKey", "apikey", "stripe.api.key",
    "privateKey", "private_key", "ssh-private-key", "PRIVATE KEY", "credential", "awsCredential",
]
PLAIN_KEYS = [
    "tokenId", "revokedTokens", "tokens", "secrets", "passwordPolicy", "cookieDomain", "publicKey", "key",
    "apiKeyId", "privateKeyPath", "credentials", "name", "replicas", "pass", "passwd", "", "__", "api", "keyApi",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key), key


@pytest.mark.parametrize("key", PLAIN_KEYS)
def test_other_keys_stay_readable(key: str) -> None:
    assert not is_secret_key(key), key


def test_words_split_at_case_changes_and_separators() -> None:
    assert split_words("xApiKey") == ["x", "api", "key"]
    assert split_words("x-api-key") == ["x", "api", "key"]
    assert split_words("APIKey") == ["api", "key"]
    assert split_words("client_secret.v2") == ["client", "secret", "v", "2"]
    assert split_words("HTTPServerToken") == ["http", "server", "token"]


def test_redacts_recursively_through_objects_and_arrays() -> None:
    value = {
        "name": "billing",
        "replicas": 3,
        "db": {"host": "db1", "db_password": "pw-1", "options": {"X-Api-Key": "key-2", "ssl": True}},
        "backends": [{"host": "a", "accessToken": "tok-3"},
                     {"host": "b", "headers": [{"authorization": "Bearer tok-4"}, {"accept": "json"}]}],
        "plain": ["token", "password"],
        "secret": {"nested": "whole-5", "list": [1, 2]},
        "cookie": ["c-6", "c-7"],
        "apiKey": 12345,
        "tokenId": "tid-visible",
    }
    redacted = redact(value)
    text = json.dumps(redacted)
    for leaked in ["pw-1", "key-2", "tok-3", "tok-4", "whole-5", "c-6", "c-7", "12345"]:
        assert leaked not in text
    assert redacted["db"]["db_password"] == PLACEHOLDER
    assert redacted["secret"] == PLACEHOLDER, "a secret key replaces the whole subtree"
    assert redacted["apiKey"] == PLACEHOLDER, "non-string values under a secret key go too"
    assert redacted["plain"] == ["token", "password"], "strings in arrays are values, not keys"
    assert redacted["tokenId"] == "tid-visible"
    assert redacted["db"]["options"]["ssl"] is True
    assert value["db"]["db_password"] == "pw-1", "the input is not modified"


def test_redacting_twice_is_stable_and_plain_values_are_unchanged() -> None:
    value = {"token": "t", "x": [{"password": "p"}]}
    assert redact(redact(value)) == redact(value)
    assert redact({"a": [1, {"b": None}]}) == {"a": [1, {"b": None}]}
    assert redact("password") == "password"
    assert redact({"p": 1}, key="password") == PLACEHOLDER
