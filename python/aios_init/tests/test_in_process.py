"""In-process checks of the pieces: context building, stage lines, exception summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aios_init import (
    STAGE_PREFIX,
    InitConfigError,
    InitContext,
    describe_exception,
    run_init_container,
    stage_line,
)


def test_from_env_reads_everything(tmp_path: Path) -> None:
    block = tmp_path / "b.json"
    block.write_text(json.dumps({"blockInitData": {"a": 1}, "allocation": {"gpus": [3]}, "cluster": {"id": "c"}}))
    ctx = InitContext.from_env(
        {
            "AIOS_INIT_MODE": "remove",
            "AIOS_BLOCK_ID": "b",
            "AIOS_BLOCK_FILE": str(block),
            "AIOS_INIT_STATE_DIR": str(tmp_path / "s" / "deep"),
            "AIOS_INIT_RESULT": '{"server_url": "http://x"}',
        }
    )
    assert ctx.is_remove and not ctx.is_create
    assert ctx.block_id == "b"
    assert ctx.cluster_id == "c"  # falls back to the cluster document's id
    assert ctx.allocation == {"gpus": [3]}
    assert ctx.block_init_data == {"a": 1}
    assert ctx.state_dir == tmp_path / "s" / "deep" and ctx.state_dir.is_dir()
    assert ctx.create_result == {"server_url": "http://x"}
    assert ctx.aios_envs() == {"block_id": "b", "cluster_id": "c", "operating_mode": "remove", "allocation": {"gpus": [3]}}


def test_from_env_rejects_unknown_mode() -> None:
    with pytest.raises(InitConfigError):
        InitContext.from_env({"AIOS_INIT_MODE": "update"})


def test_stage_line_format() -> None:
    assert stage_line("main", True, {"x": [1, 2]}) == STAGE_PREFIX + '{"stage":"main","ok":true,"payload":{"x":[1,2]},"message":""}'
    assert stage_line("begin", False, b"\x00", "no") == STAGE_PREFIX + '{"stage":"begin","ok":false,"payload":"b\'\\\\x00\'","message":"no"}'
    line = stage_line("finish", False, None, "é\nline two")
    assert "\n" not in line and line.isascii()
    assert json.loads(line[len(STAGE_PREFIX):])["message"] == "é\nline two"


def test_describe_exception_without_message() -> None:
    try:
        raise KeyError()
    except KeyError as e:
        text = describe_exception(e)
    assert text.split("\n")[0] == "KeyError"
    assert "test_in_process.py" in text.split("\n")[2]


def test_run_init_container_returns_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Init:
        def __init__(self, context: InitContext) -> None:
            self.context = context

        def begin(self):  # type: ignore[no-untyped-def]
            return True, None

        def main(self):  # type: ignore[no-untyped-def]
            return False, "disk full"

        def finish(self):  # type: ignore[no-untyped-def]
            raise AssertionError("not reached")

    status = run_init_container(Init, InitContext(mode="create", state_dir=tmp_path))
    assert status == 1
    lines = [json.loads(l[len(STAGE_PREFIX):]) for l in capsys.readouterr().out.splitlines() if l.startswith(STAGE_PREFIX)]
    assert [(l["stage"], l["ok"], l["message"]) for l in lines] == [("begin", True, ""), ("main", False, "disk full")]
