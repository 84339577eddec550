"""The command ledger: append, restart recovery, eviction order, and refusal when it cannot write."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from capsule.errors import LedgerUnavailable
from capsule.ledger import FINISHED, RUNNING, Ledger


def ok(command_id: str, **data: object) -> dict:
    return {"commandId": command_id, "success": True, "data": dict(data)}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_command_is_on_disk_before_it_runs_and_its_result_after(tmp_path: Path) -> None:
    path = tmp_path / "data" / "agent-x-commands.jsonl"
    ledger = Ledger(path)
    ledger.load()
    ledger.begin("cmd_1")
    assert lines(path)[-1]["id"] == "cmd_1" and lines(path)[-1]["state"] == RUNNING
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ledger.finish("cmd_1", ok("cmd_1", flushed=12))
    assert lines(path)[-1] == {**lines(path)[-1], "state": FINISHED, "result": ok("cmd_1", flushed=12)}
    entry = ledger.lookup("cmd_1")
    assert entry is not None and entry.state == FINISHED and entry.result == ok("cmd_1", flushed=12)


def test_appends_one_line_per_update(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path)
    ledger.load()
    for index in range(50):
        ledger.begin(f"cmd_{index}")
        ledger.finish(f"cmd_{index}", ok(f"cmd_{index}"))
    assert len(path.read_text().splitlines()) == 100


def test_restart_recovers_results_and_reports_interrupted_commands(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    first = Ledger(path)
    first.load()
    first.begin("done")
    first.finish("done", ok("done", n=1))
    first.begin("interrupted")  # the agent dies here
    first.close()

    second = Ledger(path)
    second.load()
    done, interrupted = second.lookup("done"), second.lookup("interrupted")
    assert done is not None and done.result == ok("done", n=1)
    assert interrupted is not None and interrupted.state == FINISHED
    assert interrupted.result == {"commandId": "interrupted", "success": False,
                                  "error": {"code": "agent_restarted", "message": "the agent restarted while the command ran"}}
    # Recorded on disk, so a third start says the same.
    third = Ledger(path)
    third.load()
    assert third.lookup("interrupted").result["error"]["code"] == "agent_restarted"  # type: ignore[union-attr]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path)
    ledger.load()
    ledger.begin("a")
    ledger.finish("a", ok("a"))
    ledger.close()
    with open(path, "ab") as out:
        out.write(b'{"id":"b","state":"runn')  # SIGKILL mid-write
    again = Ledger(path)
    again.load()
    assert again.lookup("a") is not None and again.lookup("b") is None
    again.begin("c")
    assert [record["id"] for record in lines(path)] == ["a", "c"]


def test_evicts_the_oldest_by_insertion_order(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path, max_entries=3)
    ledger.load()
    # Ids that sort in the opposite order of their arrival: eviction must follow arrival.
    for command_id in ["cmd_z", "cmd_y", "cmd_x"]:
        ledger.begin(command_id)
    ledger.finish("cmd_z", ok("cmd_z"))  # finishing does not make it newer
    ledger.begin("cmd_w")
    assert list(ledger.entries) == ["cmd_y", "cmd_x", "cmd_w"]
    ledger.close()
    reloaded = Ledger(path, max_entries=3)
    reloaded.load()
    assert list(reloaded.entries) == ["cmd_y", "cmd_x", "cmd_w"]


def test_compacts_when_it_grows_and_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path, max_entries=10)
    ledger.load()
    for index in range(1000):
        ledger.begin(f"cmd_{index:04d}")
        ledger.finish(f"cmd_{index:04d}", ok(f"cmd_{index:04d}"))
    assert len(path.read_text().splitlines()) <= 2 * 10 + 2
    assert list(ledger.entries) == [f"cmd_{index:04d}" for index in range(990, 1000)]
    ledger.close()
    reloaded = Ledger(path, max_entries=10)
    reloaded.load()
    assert list(reloaded.entries) == list(ledger.entries)


def test_one_time_fields_and_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path)
    ledger.load()
    ledger.begin("k")
    sent = {"commandId": "k", "success": True, "data": {"privateKey": "pk-PLANTED", "apiToken": "tok-PLANTED", "keyId": "k1"}}
    ledger.finish("k", sent, one_time_fields=("privateKey",))
    text = path.read_text()
    assert "pk-PLANTED" not in text and "tok-PLANTED" not in text and "k1" in text
    assert ledger.lookup("k").result["data"] == {"apiToken": "[REDACTED]", "keyId": "k1"}  # type: ignore[union-attr]
    assert sent["data"]["privateKey"] == "pk-PLANTED", "the result that is sent is left alone"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_refuses_the_command(tmp_path: Path) -> None:
    # /dev/full fails every write with ENOSPC: the ledger must refuse, not pretend.
    path = tmp_path / "l.jsonl"
    ledger = Ledger(path)
    ledger.load()
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/full")
    with pytest.raises(LedgerUnavailable, match="No space left"):
        ledger.begin("cmd_1")
    assert ledger.lookup("cmd_1") is None, "a command that was not recorded is not remembered either"


def test_a_folder_that_cannot_be_written_refuses_the_command(tmp_path: Path) -> None:
    # Root ignores permission bits, so make the data folder a file: nothing can be created in it.
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    ledger = Ledger(blocker / "agent-x-commands.jsonl")
    ledger.load()
    with pytest.raises(LedgerUnavailable):
        ledger.begin("cmd_1")


def test_an_unreadable_ledger_refuses_every_command(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    path.mkdir()  # reading a folder fails: what ran before is unknown
    ledger = Ledger(path)
    ledger.load()
    with pytest.raises(LedgerUnavailable, match="cannot read"):
        ledger.begin("cmd_1")
