"""Runs real splitter programs as subprocesses, with the environment the platform sets, and checks the contract:
stage and progress lines, exit status, plan.json and the artifacts."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from splits_helpers import PROGRAMS, PROGRESS, STAGE, base_env, parse_lines, run_program

from aios_splits import validate_plan


def _out(env) -> Path:
    return Path(env["AIOS_SPLIT_OUTPUT_DIR"])


def test_success_reports_stages_progress_and_writes_the_plan(splits_env) -> None:
    env = splits_env({"model": "/m.gguf", "splits": 3}, N_SPLITS="3")
    run = run_program(PROGRAMS / "echo_splitter.py", env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [(s["stage"], s["ok"], s["message"]) for s in run.stages] == [
        ("begin", True, ""), ("main", True, ""), ("finish", True, "")]
    assert run.progress == [{"progress": (i + 1) / 3, "message": f"wrote split-{i}"} for i in range(3)]

    # Whole lines, even after user output without a trailing newline; the user's output is kept.
    assert "user output without a trailing newline" in run.stdout and "partial line" in run.stdout
    assert "to stderr" in run.stderr
    lines = [line for line in run.stdout.splitlines() if STAGE in line or PROGRESS in line]
    assert len(lines) == 6 and all(line.startswith((STAGE, PROGRESS)) for line in lines)
    for line in lines:  # the documented JSON: default separators, keys in a fixed order
        prefix = STAGE if line.startswith(STAGE) else PROGRESS
        record = json.loads(line[len(prefix):])
        assert line[len(prefix):] == json.dumps(record)
        assert list(record) == (["stage", "ok", "message"] if prefix == STAGE else ["progress", "message"])

    out = _out(env)
    plan = json.loads((out / "plan.json").read_text())
    assert validate_plan(plan) == []
    assert [s["layers"] for s in plan["splits"]] == [[0, 1], [1, 3], [3, 4]]
    for i, split in enumerate(plan["splits"]):
        data = (out / split["artifact"]["file"]).read_bytes()
        assert data.startswith(f"split {i} of 3: ".encode())
        assert split["artifact"] == {"file": f"split-{i}.bin", "sha256": hashlib.sha256(data).hexdigest(),
                                     "size": len(data)}
        values = split["block"]["body"]["spec"]["values"]
        assert values["blockId"] == f"tiny-model-abcdefgh-s{i}"
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "split-0.bin", "split-1.bin", "split-2.bin"]


def test_gpus_and_cluster_reach_the_block_specs(splits_env) -> None:
    env = splits_env({}, N_SPLITS="1", GPUS="2", CLUSTER="gpu-east")
    run = run_program(PROGRAMS / "echo_splitter.py", env)
    assert run.returncode == 0, run.stdout + run.stderr
    plan = json.loads((_out(env) / "plan.json").read_text())
    rules = {r["values"]["name"]: r["values"] for r in
             plan["splits"][0]["block"]["body"]["spec"]["values"]["policyRulesSpec"]}
    assert rules["resourceAllocator"]["parameters"] == {"gpus": 2, "min_gpu_free_memory": 100,
                                                        "max_gpu_utilization": 0.95, "cpus": 0.5}
    assert rules["clusterAllocator"]["parameters"]["filter"]["clusterQuery"]["value"] == "gpu-east"


@pytest.mark.parametrize("stage", ["begin", "main", "finish"])
def test_stage_returning_false_exits_1_and_stops(splits_env, stage: str) -> None:
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(FAIL_STAGE=stage))
    assert run.returncode == 1
    order = ["begin", "main", "finish"]
    ran = order[: order.index(stage) + 1]
    assert [f"RAN {s}" for s in ran] == [line for line in run.stdout.splitlines() if line.startswith("RAN ")]
    assert [(s["stage"], s["ok"]) for s in run.stages] == [(s, True) for s in ran[:-1]] + [(stage, False)]
    assert run.stage(stage)["message"] == f"{stage} refused: not enough memory"


def test_stage_raising_exits_1_with_type_and_traceback_summary(splits_env) -> None:
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(RAISE_STAGE="main"))
    assert run.returncode == 1
    msg = run.stage("main")["message"]
    lines = msg.splitlines()
    assert lines[0] == "ConnectionError: cannot reach http://127.0.0.1:9/model.gguf"
    assert lines[1] == "Traceback (last 3 frames):"
    assert [ln.split(" in ")[1].split(":")[0] for ln in lines[2:]] == ["_run", "_read_model", "_connect"]
    assert "runner.py" not in msg
    assert "Traceback (most recent call last)" in run.stderr  # the full traceback goes to the log


def test_bad_return_shape_and_sys_exit_are_failures(splits_env) -> None:
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(BAD_RETURN="begin"))
    assert run.returncode == 1
    assert run.stage("begin")["message"].startswith("TypeError: begin() must return (ok: bool, value), got None")
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(EXIT_STAGE="main"))
    assert run.returncode == 1
    assert run.stage("main")["message"].startswith("SystemExit: 0")


def test_bad_artifact_name_fails_main(splits_env) -> None:
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(BAD_NAME="../escape.bin"))
    assert run.returncode == 1
    assert run.stage("main")["message"].startswith(
        "aios_splits.context.SplitArtifactError: artifact name '../escape.bin' must be a plain file name")


def test_finish_without_a_plan_fails(splits_env) -> None:
    env = splits_env(FINISH="none")
    run = run_program(PROGRAMS / "failing_splitter.py", env)
    assert run.returncode == 1
    assert run.stage("finish")["message"].startswith("RuntimeError: no plan: finish() must return the plan")
    assert not (_out(env) / "plan.json").exists()


def test_invalid_plan_fails_finish_naming_every_problem(splits_env) -> None:
    env = splits_env(FINISH="gap")
    run = run_program(PROGRAMS / "failing_splitter.py", env)
    assert run.returncode == 1
    msg = run.stage("finish")["message"]
    assert msg.startswith("aios_splits.plan.PlanError: the plan is invalid (1 problem(s)):")
    assert "splits[0].layers: starts at 1 but the layers before end at 0: layers 0..0 are in no split" in msg
    assert not (_out(env) / "plan.json").exists()


def test_plan_whose_artifact_digest_is_wrong_fails(splits_env) -> None:
    run = run_program(PROGRAMS / "failing_splitter.py", splits_env(FINISH="badsha"))
    assert run.returncode == 1
    assert "splits[0].artifact.sha256: '" + "0" * 64 + "', but 'a.bin' hashes to " in run.stage("finish")["message"]


@pytest.mark.parametrize("change, expected", [
    ({"TASK_DATA": "{not json"}, "SplitConfigError: TASK_DATA is not valid JSON:"),
    ({"TASK_DATA": "[1, 2]"}, "SplitConfigError: TASK_DATA must be a JSON object, got a JSON list"),
    ({"TASK_ID": ""}, "SplitConfigError: TASK_ID is not set"),
    ({"AIOS_SPLIT_OUTPUT_DIR": "/nonexistent/aios-split-out"}, "SplitConfigError: AIOS_SPLIT_OUTPUT_DIR="),
])
def test_unusable_environment_is_a_begin_failure(splits_env, change, expected: str) -> None:
    env = splits_env()
    env.update(change)
    run = run_program(PROGRAMS / "failing_splitter.py", env)
    assert run.returncode == 1
    assert [(s["stage"], s["ok"]) for s in run.stages] == [("begin", False)]
    assert run.stages[0]["message"].startswith(expected), run.stages[0]["message"]
    assert "RAN" not in run.stdout


def test_sigterm_fails_the_running_stage_with_exit_143(splits_env, tmp_path: Path) -> None:
    env = splits_env()
    proc = subprocess.Popen([sys.executable, str(PROGRAMS / "slow_splitter.py")], env=base_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.stdout.readline().startswith(PROGRESS):
                break
        time.sleep(0.3)  # let main() reach its sleep
        proc.send_signal(signal.SIGTERM)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143
    stages = parse_lines(out, STAGE)
    assert [(s["stage"], s["ok"]) for s in stages] == [("main", False)]
    assert stages[0]["message"].startswith("aios_splits.runner.SplitTerminated: received SIGTERM")
    assert (tmp_path / "cleaned").read_text() == "yes"


def test_the_sdk_needs_only_the_standard_library() -> None:
    code = ("import sys, aios_splits, aios_splits.ranges; "
            "bad = [m for m in ('gguf', 'numpy') if m in sys.modules]; assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], env=base_env({}), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
