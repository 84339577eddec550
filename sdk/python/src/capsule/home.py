"""The Capsule home: key files and `broker.json`, in the same layout and format as the Swift tools.

    <home>/keys/agent-<code>.key   {"public": Z85, "secret": Z85}, mode 0600
    <home>/keys/agent-<code>.pub   the public key and a newline
    <home>/broker.json             {"ingest", "bus", "router", "publicKey"}, written by the broker
    <home>/data/                   the agent's command ledger
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from .wire import canonical_json

__all__ = ["Home", "KeyPair", "BrokerEndpoints", "BrokerUnknown", "DEFAULT_ROUTER", "DEFAULT_INGEST"]

DEFAULT_INGEST = "tcp://127.0.0.1:7401"
DEFAULT_ROUTER = "tcp://127.0.0.1:7403"


class BrokerUnknown(Exception):
    """Neither an explicit broker key nor a readable `broker.json` is there (yet)."""


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # 40 Z85 characters
    secret: bytes


@dataclass(frozen=True)
class BrokerEndpoints:
    router: str
    ingest: str
    server_key: bytes  # Z85


def _z85_key(text: str) -> bytes | None:
    """The 40-character Z85 form of a CURVE key, or None if `text` is not one."""
    if len(text) != 40:
        return None
    try:
        if len(z85.decode(text)) != 32:
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return text.encode("ascii")


class Home:
    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        chosen = os.fspath(path) if path is not None else os.environ.get("CAPSULE_HOME") or "~/.capsule"
        self.path = Path(os.path.expanduser(chosen)).absolute()

    @property
    def keys_dir(self) -> Path:
        return self.path / "keys"

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    @property
    def broker_file(self) -> Path:
        return self.path / "broker.json"

    def key_file(self, name: str) -> Path:
        return self.keys_dir / f"{name}.key"

    def ledger_file(self, agent_code: str) -> Path:
        return self.data_dir / f"agent-{agent_code}-commands.jsonl"

    def prepare(self) -> None:
        for directory in (self.path, self.keys_dir, self.data_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    # MARK: keys

    def load_or_create_key_pair(self, name: str) -> KeyPair:
        """Loads `keys/<name>.key`, creating it (mode 0600) and `keys/<name>.pub` on first use."""
        self.prepare()
        file = self.key_file(name)
        if file.exists():
            return read_key_file(file)
        public, secret = zmq.curve_keypair()
        text = (b'{\n  "public" : ' + canonical_json(public.decode("ascii"))
                + b',\n  "secret" : ' + canonical_json(secret.decode("ascii")) + b"\n}")
        temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, file)  # fails if another process created the key first: use theirs
        except FileExistsError:
            return read_key_file(file)
        finally:
            os.unlink(temporary)
        (self.keys_dir / f"{name}.pub").write_bytes(public + b"\n")
        return KeyPair(public, secret)

    # MARK: broker

    def resolve_broker(self, router: str | None = None, ingest: str | None = None,
                       broker_key: str | None = None) -> BrokerEndpoints:
        """Explicit values first, then `broker.json`, then the loopback defaults. Raises
        BrokerUnknown when no broker key can be found."""
        info: dict[str, object] = {}
        try:
            loaded = json.loads(self.broker_file.read_bytes())
            if isinstance(loaded, dict):
                info = loaded
        except (OSError, ValueError):
            pass
        key: bytes | None
        if broker_key is not None:
            key = read_public_key(broker_key)
        else:
            found = info.get("publicKey")
            key = _z85_key(found) if isinstance(found, str) else None
            if key is None:
                raise BrokerUnknown(f"broker key unknown: no publicKey in {self.broker_file} "
                                    "(start capsule-broker with this home, or pass broker_key)")
        found_router, found_ingest = info.get("router"), info.get("ingest")
        return BrokerEndpoints(
            router=router or (found_router if isinstance(found_router, str) else DEFAULT_ROUTER),
            ingest=ingest or (found_ingest if isinstance(found_ingest, str) else DEFAULT_INGEST),
            server_key=key,
        )


def read_key_file(file: Path) -> KeyPair:
    try:
        contents = json.loads(file.read_bytes())
        public = _z85_key(contents["public"])
        secret = _z85_key(contents["secret"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{file}: not a Capsule key file (expected JSON with Z85 \"public\" and \"secret\"): {error}") from None
    if public is None or secret is None:
        raise ValueError(f"{file}: not a Capsule key file (expected JSON with Z85 \"public\" and \"secret\")")
    if zmq.curve_public(secret) != public:
        raise ValueError(f"{file}: the public key does not match the secret key")
    return KeyPair(public, secret)


def read_public_key(text: str) -> bytes:
    """A broker key given as Z85 text, or as a file: a key file, a `.pub` file or bare Z85."""
    direct = _z85_key(text.strip())
    if direct is not None:
        return direct
    key: bytes | None = None
    try:
        data = Path(text).read_bytes()
    except OSError:
        raise ValueError(f"broker key {text[:60]!r} is neither a Z85 public key nor a readable file") from None
    try:
        contents = json.loads(data)
        if isinstance(contents, dict) and isinstance(contents.get("public"), str):
            key = _z85_key(contents["public"])
    except ValueError:
        key = _z85_key(data.decode("ascii", "replace").strip())
    if key is None:
        raise ValueError(f"{text}: not a Z85 public key or key file")
    return key
