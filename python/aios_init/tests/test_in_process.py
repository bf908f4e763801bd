"""In-process checks of the pieces: context building, stage lines, exception summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

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


def _constructed_with(cls: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Dict[str, Any]:
    """Run ``cls`` (whose ``finish`` returns what its constructor received) and return the finish payload,
    or ``{"begin_error": message}`` when construction was refused."""
    status = run_init_container(cls, InitContext(mode="create", block_id="b", cluster_id="c", state_dir=tmp_path))
    lines = [json.loads(l[len(STAGE_PREFIX):]) for l in capsys.readouterr().out.splitlines() if l.startswith(STAGE_PREFIX)]
    if status != 0:
        assert [l["stage"] for l in lines] == ["begin"], lines
        return {"begin_error": lines[0]["message"]}
    return lines[-1]["payload"]  # type: ignore[no-any-return]


class _Recorder:
    args: Tuple[Any, ...] = ()
    kwargs: Dict[str, Any] = {}

    def begin(self) -> Tuple[bool, Any]:
        return True, None

    def main(self) -> Tuple[bool, Any]:
        return True, None

    def finish(self) -> Tuple[bool, Any]:
        return True, {"n": len(self.args), "args": [a if not isinstance(a, Path) else str(a) for a in self.args], "kwargs": self.kwargs}


class _VarArgsKwArgs(_Recorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class _VarArgsOnly(_Recorder):
    def __init__(self, *args: Any) -> None:
        self.args = args


class _OneNamedThenVarArgs(_Recorder):
    def __init__(self, envs: Any, *rest: Any) -> None:
        self.args = (envs, *rest)


class _FiveAndKwArgs(_Recorder):
    def __init__(self, envs: Any, block_data: Any, cluster_data: Any, k8s: Any, mode: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = (envs, block_data, cluster_data, k8s, mode), kwargs


class _ForwardsToAIOSBase(_Recorder):
    """The pattern issue 15 item 12 names: a subclass forwarding ``*args, **kwargs`` to an AIOS base."""

    class Base(_Recorder):
        def __init__(self, envs: Any, block_data: Any, cluster_data: Any, k8s: Any, operating_mode: Any) -> None:
            self.args = (envs, block_data, cluster_data, k8s, operating_mode)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _ForwardsToAIOSBase.Base.__init__(self, *args, **kwargs)  # type: ignore[arg-type]


AIOS_ARGS = [
    {"block_id": "b", "cluster_id": "c", "operating_mode": "create", "allocation": {}},
    {},
    {},
    None,
    "create",
]


@pytest.mark.parametrize("cls", [_VarArgsKwArgs, _VarArgsOnly, _OneNamedThenVarArgs, _FiveAndKwArgs, _ForwardsToAIOSBase])
def test_variadic_constructors_get_the_aios_arguments_positionally(
    cls: type, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _constructed_with(cls, tmp_path, capsys)
    assert "begin_error" not in got, got
    assert got == {"n": 5, "args": AIOS_ARGS, "kwargs": {}}


class _KwArgsOnly(_Recorder):
    def __init__(self, **kwargs: Any) -> None:  # AIOS's positional call fails on this too
        self.kwargs = kwargs


class _SixNamedThenVarArgs(_Recorder):
    def __init__(self, a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, *rest: Any) -> None:
        pass


class _RequiredKeywordOnly(_Recorder):
    def __init__(self, *args: Any, model: str) -> None:
        pass


@pytest.mark.parametrize(
    "cls, expected",
    [
        (_KwArgsOnly, "TypeError: _KwArgsOnly.__init__ takes 0 positional parameters besides self"),
        (_SixNamedThenVarArgs, "TypeError: _SixNamedThenVarArgs.__init__ takes 6 positional parameters besides self"),
        (_RequiredKeywordOnly, "TypeError: "),  # raised by the call itself: a missing keyword-only argument
    ],
)
def test_constructors_aios_could_not_call_are_refused(
    cls: type, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    got = _constructed_with(cls, tmp_path, capsys)
    assert got["begin_error"].startswith(expected), got


def test_one_parameter_constructor_still_gets_the_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class WithContext(_Recorder):
        def __init__(self, context: InitContext) -> None:
            self.args = (type(context).__name__, context.block_id)

    assert _constructed_with(WithContext, tmp_path, capsys)["args"] == ["InitContext", "b"]
