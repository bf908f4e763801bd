"""Example init program: deploys a third-party HTTP server for a block, and tears it down on remove.

create: starts ``python -m http.server`` (standing in for an LLM server) on ``blockInitData.port`` or a free
port, waits until it answers, and returns ``{"server_url", "pid"}`` from finish(): the platform hands that
dict to the block's instances as ``blockInitData.initContainer``.
remove: stops the server whose pid create left in the state directory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any, Optional, Tuple

from aios_init import InitContext, execute_init_container

Result = Tuple[bool, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "r") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has already exited
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class HttpServerInit:
    def __init__(self, context: InitContext) -> None:
        self.context = context
        self.pid_file = context.state_dir / "server.pid"
        self.port = 0
        self.pid: Optional[int] = None

    # ---- create ----------------------------------------------------------------------------------------

    def begin(self) -> Result:
        if self.context.is_remove:
            if self.pid_file.exists():
                self.pid = int(self.pid_file.read_text().strip())
            elif self.context.create_result and self.context.create_result.get("pid"):
                self.pid = int(self.context.create_result["pid"])
            return True, {"pid": self.pid}
        self.port = int(self.context.block_init_data.get("port") or _free_port())
        return True, {"port": self.port}

    def main(self) -> Result:
        if self.context.is_remove:
            return self._stop()
        log = open(self.context.state_dir / "server.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this program; remove stops the whole group
        )
        self.pid = proc.pid
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + float(self.context.init_settings.get("startTimeoutSeconds", 15))
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False, f"server exited with status {proc.returncode}; see {log.name}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1).close()
                return True, {"pid": proc.pid}
            except OSError:
                time.sleep(0.1)
        return False, f"server not answering on port {self.port} after the start timeout"

    def finish(self) -> Result:
        if self.context.is_remove:
            self.pid_file.unlink(missing_ok=True)
            return True, {"stopped": self.pid}
        return True, {"server_url": f"http://127.0.0.1:{self.port}", "pid": self.pid}

    # ---- remove ----------------------------------------------------------------------------------------

    def _stop(self) -> Result:
        if self.pid is None:
            self.context.log("no pid file: nothing to stop")
            return True, None
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return True, {"pid": self.pid, "already_gone": True}
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not _alive(self.pid):
                    return True, {"pid": self.pid, "signal": sig.name}
                time.sleep(0.05)
        return False, f"server pid {self.pid} still running after SIGKILL"


if __name__ == "__main__":
    execute_init_container(HttpServerInit)
