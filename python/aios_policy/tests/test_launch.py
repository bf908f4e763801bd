"""``python -m aios_policy.launch``: the command it execs, ``--probe``, and a real worker started through it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aios_policy.client import WorkerClient
from aios_policy.launch import command, parse
from policy_helpers import ECHO_POLICY, PKG


def test_arguments_are_checked() -> None:
    with pytest.raises(SystemExit):
        parse([])  # --code is required unless --probe
    with pytest.raises(SystemExit):
        parse(["--code", "/c", "--run-as", "nobody"])
    with pytest.raises(SystemExit):
        parse(["--code", "/c", "--mode", "docker"])
    assert parse(["--probe"]).probe


def test_command_uses_the_given_interpreter_venv_and_uid(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    argv, env = command(parse(["--code", str(code), "--mode", "rlimits_only", "--python", "/usr/bin/python3", "--cpu", "5"]))
    assert argv[0] == "/usr/bin/python3" and argv[-2:] == ["--code", str(code.resolve())]
    assert argv[argv.index("--cpu") + 1] == "5"
    assert env["PYTHONPATH"] == str(PKG) and "HOME" not in env  # nothing of the platform's environment
    venv = tmp_path / "venv"
    argv, _ = command(parse(["--code", str(code), "--mode", "rlimits_only", "--venv", str(venv), "--python", "/ignored"]))
    assert argv[0] == os.path.join(str(venv), "bin", "python3")
    argv, _ = command(parse(["--code", str(code), "--run-as", "65534:65534", "--bwrap", "/opt/bwrap", "--sdk", str(PKG)]))
    assert argv[4:9] == ["--uid", "65534", "--gid", "65534", "--"] and argv[9] == "/opt/bwrap"
    assert (str(PKG / "aios_policy"), "/opt/aios-policy/aios_policy") in zip(argv, argv[1:])


def test_probe_prints_json() -> None:
    missing = subprocess.run([sys.executable, "-m", "aios_policy.launch", "--probe", "--bwrap", "/nonexistent/bwrap"],
                             capture_output=True, text=True, cwd=PKG, timeout=60)
    assert missing.returncode == 0
    answer = json.loads(missing.stdout)
    assert answer["usable"] is False and "not installed" in answer["reason"]


def test_a_worker_started_through_the_launcher_answers(make_policy) -> None:
    code = make_policy(ECHO_POLICY)
    argv = [sys.executable, "-m", "aios_policy.launch", "--code", str(code), "--mode", "rlimits_only", "--sdk", str(PKG)]
    with WorkerClient(argv, env={"PYTHONPATH": str(PKG), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}) as worker:
        worker.init("policy.autoscaler.echo:1", settings={"a": 1}, parameters={"x": 1})
        result = worker.eval({"hello": "world"})
        assert result["input"] == {"hello": "world"} and result["parameters"] == {"x": 1}
        assert result["rule_id"] == "policy.autoscaler.echo:1"


def test_an_unrunnable_sandbox_exits_127(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    run = subprocess.run([sys.executable, "-m", "aios_policy.launch", "--code", str(code), "--bwrap", "/nonexistent/bwrap"],
                         capture_output=True, text=True, cwd=PKG, timeout=60)
    assert run.returncode == 127 and "cannot execute /nonexistent/bwrap" in run.stderr
