"""Runs real init programs as subprocesses, with the environment the platform sets, and checks the contract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from init_helpers import EXAMPLES, PREFIX, PROGRAMS, SAMPLE_BLOCK, base_env, parse_stages, run_program


def test_success_reports_three_ok_stages_and_exits_0(init_env, tmp_path: Path) -> None:
    run = run_program(PROGRAMS / "echo_init.py", init_env("create"))
    assert run.returncode == 0, run.stderr
    assert [(s["stage"], s["ok"]) for s in run.stages] == [("begin", True), ("main", True), ("finish", True)]
    assert all(s["message"] == "" for s in run.stages)
    assert run.stage("begin")["payload"] == {"stage": "begin"}
    assert run.stage("main")["payload"] is None

    fin = run.stage("finish")["payload"]
    assert fin["server_url"] == "http://127.0.0.1:8080"
    assert fin["mode"] == "create"
    assert fin["block_id"] == "blk-1"
    assert fin["cluster_id"] == "cluster-a"
    assert fin["allocation"] == SAMPLE_BLOCK["allocation"]
    assert fin["cluster"] == SAMPLE_BLOCK["cluster"]
    assert fin["block_init_data"] == {"model": "tiny"}
    assert fin["init_settings"] == {"startTimeoutSeconds": 20}
    assert fin["parameters"] == {"temperature": 0.2}
    assert fin["block_data_keys"] == sorted(SAMPLE_BLOCK)
    assert fin["state_dir"] == str(tmp_path / "state" / "blk-1")
    assert fin["state_dir_exists"] is True
    assert fin["create_result"] is None

    # Stage lines are whole lines, even after user output without a trailing newline; other output is kept.
    assert "user output without a trailing newline" in run.stdout
    assert "user output from main" in run.stdout
    assert "to stderr" in run.stderr and "begin called" in run.stderr
    stage_lines = [line for line in run.stdout.splitlines() if PREFIX in line]
    assert len(stage_lines) == 3 and all(line.startswith(PREFIX) for line in stage_lines)
    for line in stage_lines:  # compact JSON, the record's keys in a fixed order
        assert line[len(PREFIX):] == json.dumps(json.loads(line[len(PREFIX):]), separators=(",", ":"))
        assert list(json.loads(line[len(PREFIX):])) == ["stage", "ok", "payload", "message"]


def test_stage_lines_are_compact_json(init_env) -> None:
    run = run_program(PROGRAMS / "failing_init.py", init_env("create"))
    assert run.returncode == 0
    lines = [line for line in run.stdout.splitlines() if line.startswith(PREFIX)]
    assert lines[0] == PREFIX + '{"stage":"begin","ok":true,"payload":"begin","message":""}'


@pytest.mark.parametrize("stage", ["begin", "main", "finish"])
def test_stage_returning_false_exits_1_and_stops(init_env, stage: str) -> None:
    run = run_program(PROGRAMS / "failing_init.py", init_env("create", FAIL_STAGE=stage))
    assert run.returncode == 1
    order = ["begin", "main", "finish"]
    ran = [line.split()[1] for line in run.stdout.splitlines() if line.startswith("RAN ")]
    assert ran == order[: order.index(stage) + 1]  # later stages not run
    assert [s["stage"] for s in run.stages] == ran
    assert all(s["ok"] for s in run.stages[:-1])
    last = run.stages[-1]
    assert last["stage"] == stage and last["ok"] is False
    assert last["payload"] == {"reason": f"{stage} refused", "code": 7}
    assert last["message"] == str({"reason": f"{stage} refused", "code": 7})


def test_stage_raising_exits_1_with_type_and_traceback_summary(init_env) -> None:
    run = run_program(PROGRAMS / "failing_init.py", init_env("create", RAISE_STAGE="main"))
    assert run.returncode == 1
    assert [(s["stage"], s["ok"]) for s in run.stages] == [("begin", True), ("main", False)]
    assert "RAN finish" not in run.stdout
    main = run.stage("main")
    assert main["payload"] is None
    lines = main["message"].split("\n")
    assert lines[0] == "ConnectionError: cannot reach http://127.0.0.1:9"
    frames = lines[2:]
    assert len(frames) == 3  # the last three frames, innermost last, the SDK's own frames left out
    assert "failing_init.py" in frames[0] and "in _run" in frames[0]
    assert "in _deploy" in frames[1]
    assert "in _connect" in frames[2] and "raise ConnectionError" in frames[2]
    assert "Traceback (most recent call last)" in run.stderr  # the full traceback goes to the log


def test_bad_return_shape_is_a_failure(init_env) -> None:
    run = run_program(PROGRAMS / "failing_init.py", init_env("create", BAD_RETURN="finish"))
    assert run.returncode == 1
    fin = run.stage("finish")
    assert fin["ok"] is False
    assert fin["message"].startswith("TypeError: finish() must return (ok: bool, payload), got None")


def test_sys_exit_0_inside_a_stage_is_a_failure(init_env) -> None:
    run = run_program(PROGRAMS / "failing_init.py", init_env("create", EXIT_STAGE="main"))
    assert run.returncode == 1
    assert run.stage("main")["ok"] is False
    assert run.stage("main")["message"].startswith("SystemExit: 0")
    assert "RAN finish" not in run.stdout


@pytest.mark.parametrize("ctor", ["five", "varargs"])
def test_aios_style_five_argument_class(init_env, ctor: str) -> None:
    # varargs: __init__(self, *args, **kwargs) gets the same five arguments, positionally, as under AIOS.
    run = run_program(PROGRAMS / "aios_style_init.py", init_env("remove", CTOR=ctor))
    assert run.returncode == 0, run.stderr
    fin = run.stage("finish")["payload"]
    assert fin["envs"] == {
        "block_id": "blk-1",
        "cluster_id": "cluster-a",
        "operating_mode": "remove",
        "allocation": SAMPLE_BLOCK["allocation"],
    }
    assert fin["block_id_from_data"] == "blk-1"
    assert fin["cluster_data"] == SAMPLE_BLOCK["cluster"]
    assert fin["k8s"] is None
    assert fin["operating_mode"] == "remove"


def test_create_mode_is_not_routed_as_remove(init_env) -> None:
    run = run_program(PROGRAMS / "aios_style_init.py", init_env("create"))
    assert run.returncode == 0
    assert run.stage("finish")["payload"]["operating_mode"] == "create"
    assert run.stage("finish")["payload"]["envs"]["operating_mode"] == "create"


def test_remove_sees_create_result_and_state_dir(init_env) -> None:
    create = run_program(PROGRAMS / "stateful_init.py", init_env("create"))
    assert create.returncode == 0, create.stderr
    result = create.stage("finish")["payload"]
    token = result["token"]

    remove = run_program(PROGRAMS / "stateful_init.py", init_env("remove", AIOS_INIT_RESULT=json.dumps(result)))
    assert remove.returncode == 0, remove.stderr
    assert remove.stage("main")["payload"] == {"read": token}
    assert remove.stage("finish")["payload"] == {"file_token": token, "result_token": token, "match": True}


def test_remove_without_create_result(init_env) -> None:
    # AIOS_INIT_RESULT may be absent in remove mode: create_result is None.
    create = run_program(PROGRAMS / "stateful_init.py", init_env("create"))
    assert create.returncode == 0
    remove = run_program(PROGRAMS / "stateful_init.py", init_env("remove"))
    assert remove.returncode == 0, remove.stderr
    assert remove.stage("finish")["payload"]["result_token"] is None


def test_unserialisable_payloads_are_stringified(init_env) -> None:
    run = run_program(PROGRAMS / "unserialisable_init.py", init_env("create"))
    assert run.returncode == 0, run.stderr
    assert run.stage("begin")["payload"] == "<Opaque handle 42>"
    assert run.stage("main")["payload"] == "nan"  # NaN is not strict JSON
    # The whole payload is str()-ed (a dict's str() shows its values' repr()).
    assert run.stage("finish")["payload"] == "{'handle': Opaque(42), 'ok': 1}"

    failed = run_program(PROGRAMS / "unserialisable_init.py", init_env("create", FAIL_FINISH="1"))
    assert failed.returncode == 1
    assert failed.stage("finish") == {
        "stage": "finish",
        "ok": False,
        "payload": "<Opaque handle 42>",
        "message": "<Opaque handle 42>",
    }


def test_missing_env_vars_are_tolerated() -> None:
    run = run_program(PROGRAMS / "echo_init.py", {})
    assert run.returncode == 0, run.stderr
    fin = run.stage("finish")["payload"]
    assert fin["mode"] == "create"
    assert fin["block_id"] == "" and fin["cluster_id"] == ""
    assert fin["allocation"] == {} and fin["cluster"] == {} and fin["block_init_data"] == {}
    assert fin["block_data_keys"] == []
    assert fin["state_dir_exists"] is True
    assert fin["create_result"] is None
    assert "AIOS_INIT_STATE_DIR not set" in run.stderr


def test_missing_keys_in_block_file_and_fallback_ids(init_env) -> None:
    env = init_env("create", block={"blockId": "from-file", "allocation": {"clusterId": "c-from-file"}})
    del env["AIOS_BLOCK_ID"], env["AIOS_CLUSTER_ID"]
    run = run_program(PROGRAMS / "echo_init.py", env)
    assert run.returncode == 0, run.stderr
    fin = run.stage("finish")["payload"]
    assert fin["block_id"] == "from-file"
    assert fin["cluster_id"] == "c-from-file"
    assert fin["cluster"] == {} and fin["block_init_data"] == {} and fin["parameters"] == {}


def test_wrong_typed_sections_are_tolerated(init_env) -> None:
    run = run_program(PROGRAMS / "echo_init.py", init_env("create", block={"allocation": None, "cluster": [1]}))
    assert run.returncode == 0, run.stderr
    assert run.stage("finish")["payload"]["allocation"] == {}
    assert run.stage("finish")["payload"]["cluster"] == {}


@pytest.mark.parametrize(
    "env_change, expected",
    [
        ({"AIOS_INIT_MODE": "delete"}, "InitConfigError: AIOS_INIT_MODE='delete'"),
        ({"AIOS_BLOCK_FILE": "/nonexistent/block.json"}, "InitConfigError: AIOS_BLOCK_FILE='/nonexistent/block.json'"),
        ({"AIOS_INIT_RESULT": "{not json"}, "InitConfigError: AIOS_INIT_RESULT: not valid JSON"),
    ],
)
def test_unusable_environment_is_a_begin_failure(init_env, env_change, expected: str) -> None:
    run = run_program(PROGRAMS / "echo_init.py", {**init_env("remove"), **env_change})
    assert run.returncode == 1
    assert len(run.stages) == 1
    assert run.stages[0]["stage"] == "begin" and run.stages[0]["ok"] is False
    assert run.stages[0]["message"].startswith(expected)
    assert "begin called" not in run.stderr  # the user class never ran


def test_block_file_not_an_object_is_a_begin_failure(init_env) -> None:
    run = run_program(PROGRAMS / "echo_init.py", init_env("create", block="[1, 2]"))
    assert run.returncode == 1
    assert "expected a JSON object, got list" in run.stage("begin")["message"]


def test_mode_is_case_insensitive(init_env) -> None:
    run = run_program(PROGRAMS / "echo_init.py", init_env(" REMOVE "))
    assert run.returncode == 0
    assert run.stage("finish")["payload"]["mode"] == "remove"


def test_non_object_create_result_becomes_none(init_env) -> None:
    run = run_program(PROGRAMS / "echo_init.py", init_env("remove", AIOS_INIT_RESULT='"just a string"'))
    assert run.returncode == 0
    assert run.stage("finish")["payload"]["create_result"] is None
    assert "not an object" in run.stderr


@pytest.mark.parametrize(
    "ctor, expected",
    [
        ("arity", "TypeError: TwoArgs.__init__ takes 2 positional parameters besides self"),
        ("raise", "RuntimeError: model weights not found"),
    ],
)
def test_constructor_failure_is_a_begin_failure(init_env, ctor: str, expected: str) -> None:
    run = run_program(PROGRAMS / "bad_constructors_init.py", init_env("create", CTOR=ctor))
    assert run.returncode == 1
    assert len(run.stages) == 1
    assert run.stages[0]["stage"] == "begin" and run.stages[0]["ok"] is False
    assert run.stages[0]["message"].startswith(expected)


def test_missing_stage_method_is_a_failure(init_env) -> None:
    run = run_program(PROGRAMS / "bad_constructors_init.py", init_env("create", CTOR="nostage"))
    assert run.returncode == 1
    assert [(s["stage"], s["ok"]) for s in run.stages] == [("begin", True), ("main", False)]
    assert run.stage("main")["message"] == "TypeError: NoMain has no main() method"


def test_sigterm_fails_the_running_stage(init_env, tmp_path: Path) -> None:
    env = init_env("create")
    proc = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "slow_init.py")],
        env=base_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith(PREFIX):
                break
        time.sleep(0.3)  # let main() reach its sleep
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    stages = parse_stages(out)
    assert [(s["stage"], s["ok"]) for s in stages] == [("main", False)]
    assert stages[0]["message"].startswith("aios_init.runner.InitTerminated: received SIGTERM")
    assert (Path(env["AIOS_INIT_STATE_DIR"]) / "cleaned").read_text() == "yes"


def test_http_server_example_create_then_remove(init_env) -> None:
    block = {**SAMPLE_BLOCK, "blockInitData": {}}
    create = run_program(EXAMPLES / "http_server_init.py", init_env("create", block=block))
    pid = None
    try:
        assert create.returncode == 0, create.stdout + create.stderr
        result = create.stage("finish")["payload"]
        pid = result["pid"]
        import urllib.request

        with urllib.request.urlopen(result["server_url"] + "/", timeout=5) as resp:
            assert resp.status == 200

        remove = run_program(
            EXAMPLES / "http_server_init.py", init_env("remove", block=block, AIOS_INIT_RESULT=json.dumps(result))
        )
        assert remove.returncode == 0, remove.stdout + remove.stderr
        assert remove.stage("finish")["payload"] == {"stopped": pid}
        with pytest.raises(OSError):
            urllib.request.urlopen(result["server_url"] + "/", timeout=2)
    finally:
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
