"""A real ``aios up`` for the hostile-input suite, watched for crashes, stalls and memory growth.

The platform runs from ``$AIOS_BIN`` (default ``<repo>/.build/debug/aios``; the suite is skipped, saying so,
when it is missing) in a fresh data directory, on loopback with ports picked by the system. Requests carry the
admin token ``aios up`` wrote to ``DATA_DIR/tokens/admin.token`` (none when the file is absent: a server with
``--auth off``). Image-only components cannot start anything (``AIOS_OCI_ENGINE=none``), so what the suite
creates never runs a host command.

Each test is a batch: it starts on a healthy platform (a dead, stalled or bloated one left by an earlier
failing test is replaced first, so one failure does not cascade), and ends with :meth:`Platform.end_batch`:
the process is alive, ``/healthz`` answers within 2 s, and the peak RSS (sampled every 50 ms from
``/proc/PID/status``) stayed within ``RSS_BOUND_BYTES`` of the RSS after startup. A request that gets no answer
within ``REQUEST_TIMEOUT_S`` fails the test, as does any 5xx answer.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: Seconds a request may take before it counts as unbounded (a fixed server answers hostile input in milliseconds).
REQUEST_TIMEOUT_S = 5.0
#: Seconds ``/healthz`` may take after each batch.
HEALTHZ_TIMEOUT_S = 2.0
#: Growth of the server's RSS over its RSS after startup that fails a batch.
RSS_BOUND_BYTES = 300 * 1024 * 1024
#: Growth at which the watchdog kills the server outright, so a runaway parse cannot take the machine down.
RSS_KILL_BYTES = 1536 * 1024 * 1024
#: Words of a stderr line that tells why the server crashed.
CRASH_WORDS = ("Fatal error", "fatal error", "Crash", "crashed", "Illegal instruction", "Segmentation fault",
               "Precondition failed", "Assertion failed", "Out of memory")
#: Seconds to wait for ``aios ready: URL`` on stdout.
READY_TIMEOUT_S = 60.0


def aios_binary() -> Path:
    return Path(os.environ.get("AIOS_BIN") or REPO / ".build" / "debug" / "aios")


class PlatformDown(AssertionError):
    """The server died, stalled or ran out of its memory bound while a request was in flight."""


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace")


def describe_body(body: bytes, limit: int = 240) -> str:
    if len(body) <= limit:
        return repr(body)
    return f"{body[: limit // 2]!r} ... {body[-limit // 4 :]!r} ({len(body)} bytes)"


def read_rss(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class Platform:
    """One ``aios up`` process and an HTTP client for it."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="aios-hostile-"))
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.generation = 0
        self.host = "127.0.0.1"
        self.port = 0
        self.token: Optional[str] = None
        self.baseline_rss = 0
        self.peak_rss = 0
        self.killed_for_memory: Optional[int] = None
        self.tainted = False
        self._conn: Optional[http.client.HTTPConnection] = None
        self._watch_stop = threading.Event()
        self._watch: Optional[threading.Thread] = None
        self.requests = 0
        self.restarts: List[str] = []
        #: (method path, status) -> count, and seconds per method path: printed at the end of the session
        self.statuses: "Counter[Tuple[str, int]]" = Counter()
        self.seconds: Dict[str, float] = defaultdict(float)

    # ---------------------------------------------------------------------------------------------- lifecycle
    @property
    def data_dir(self) -> Path:
        return self.root / f"data-{self.generation}"

    @property
    def stderr_path(self) -> Path:
        return self.root / f"stderr-{self.generation}.log"

    def start(self) -> None:
        self.generation += 1
        self.data_dir.mkdir(parents=True)
        env = dict(os.environ)
        env["AIOS_OCI_ENGINE"] = "none"
        env.pop("AIOS_TOKEN", None)
        stderr = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [str(self.binary), "up", "--data-dir", str(self.data_dir), "--http-port", "0", "--grpc-port", "0",
                 "--host", "127.0.0.1", "--metrics-interval", "1", "--policy-python", sys.executable],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=str(REPO),
                start_new_session=True)
        finally:
            stderr.close()
        url = self._await_ready()
        hostport = url.split("://", 1)[1].rstrip("/")
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        token_file = self.data_dir / "tokens" / "admin.token"
        self.token = token_file.read_text().strip() if token_file.is_file() else None
        self.tainted = False
        self.killed_for_memory = None
        self._conn = None
        answer = self.request("GET", "/api/components")
        if answer.status != 200:
            raise RuntimeError(f"GET /api/components answered {answer.status} {answer.text()} "
                               f"(token {'from ' + str(token_file) if self.token else 'absent'}): the suite would only "
                               "see refusals, not the handlers")
        self.baseline_rss = read_rss(self.proc.pid) or 0
        self.peak_rss = self.baseline_rss
        self._watch_stop = threading.Event()
        self._watch = threading.Thread(target=self._watchdog, args=(self.proc, self._watch_stop), daemon=True)
        self._watch.start()

    def _await_ready(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        found: Dict[str, str] = {}
        stdout = self.proc.stdout

        def read() -> None:
            for raw in stdout:  # keeps draining after the ready line so the pipe never fills
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("aios ready:") and "url" not in found:
                    found["url"] = line.split(":", 1)[1].strip()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "url" in found:
                return found["url"]
            if self.proc.poll() is not None:
                raise RuntimeError(f"aios up exited with {self.proc.returncode} before it was ready: {self.stderr_tail()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"aios up printed no 'aios ready: URL' line within {READY_TIMEOUT_S:g} s: {self.stderr_tail()}")

    def _watchdog(self, proc: "subprocess.Popen[bytes]", stop: threading.Event) -> None:
        while not stop.wait(0.05):
            rss = read_rss(proc.pid)
            if rss is None:
                return
            self.peak_rss = max(self.peak_rss, rss)
            if rss > self.baseline_rss + RSS_KILL_BYTES and proc.poll() is None:
                self.killed_for_memory = rss
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                return

    def stop(self) -> None:
        self._watch_stop.set()
        self._close()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait(timeout=10)
        self.proc = None

    def restart(self, why: str) -> None:
        self.restarts.append(why)
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if os.environ.get("AIOS_HOSTILE_KEEP"):
            print(f"hostile suite: data and logs kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    # --------------------------------------------------------------------------------------------- observation
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, lines: int = 12) -> str:
        """The server's last stderr lines, or, when it crashed, the lines from the one that says why (a Swift
        backtrace is long: the reason and the crashed thread's frames are at its top)."""
        try:
            text = self.stderr_path.read_bytes().decode("utf-8", "replace")
        except OSError:
            return "(no stderr)"
        all_lines = text.splitlines()
        first = next((i for i, line in enumerate(all_lines) if any(word in line for word in CRASH_WORDS)), None)
        shown = all_lines[-lines:] if first is None else all_lines[first : first + lines]
        return "\n    " + "\n    ".join(shown)

    def state(self) -> str:
        """Why the platform is unusable now, or ``""``."""
        if self.proc is None:
            return "not started"
        if self.killed_for_memory is not None:
            return (f"killed by the suite's watchdog: RSS {self.killed_for_memory >> 20} MiB, "
                    f"{(self.killed_for_memory - self.baseline_rss) >> 20} MiB over its start")
        code = self.proc.poll()
        if code is not None:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
            return f"aios up died ({how}); its stderr ends:{self.stderr_tail()}"
        return ""

    def settled_state(self, wait_s: float = 30.0) -> str:
        """After a request went unanswered: whether the server is dying (a trapped Swift process can spend many
        seconds printing its backtrace before it exits), stalled, or fine again."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and not self.state():
            if self.healthz_seconds() is not None:
                return "the server is alive and answers /healthz (that request alone was unbounded)"
            time.sleep(0.5)
        return self.state() or f"the server is alive but has not answered /healthz for {wait_s:g} s"

    def healthz_seconds(self) -> Optional[float]:
        """Seconds ``GET /healthz`` took on a fresh connection, or ``None`` without a 200 within the limit."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=HEALTHZ_TIMEOUT_S)
        start = time.monotonic()
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            return time.monotonic() - start if response.status == 200 else None
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def begin_batch(self) -> None:
        why = self.state() or ("an earlier test left it unhealthy" if self.tainted else "")
        if not why and self.healthz_seconds() is None:
            why = f"/healthz did not answer within {HEALTHZ_TIMEOUT_S:g} s"
        if not why and self.proc is not None and (read_rss(self.proc.pid) or 0) > self.baseline_rss + RSS_BOUND_BYTES:
            why = "its RSS was over the bound"
        if why:
            self.restart(why)
        assert self.proc is not None
        self.peak_rss = read_rss(self.proc.pid) or self.peak_rss

    def end_batch(self, what: str) -> None:
        """The batch's checks: alive, ``/healthz`` within 2 s, peak RSS within the bound."""
        down = self.state()
        if down:
            self.tainted = True
            raise PlatformDown(f"after {what}: {down}")
        seconds = self.healthz_seconds()
        if seconds is None:
            self.tainted = True
            raise PlatformDown(f"after {what}: /healthz did not answer 200 within {HEALTHZ_TIMEOUT_S:g} s")
        growth = self.peak_rss - self.baseline_rss
        if growth > RSS_BOUND_BYTES:
            self.tainted = True
            raise PlatformDown(f"after {what}: peak RSS {self.peak_rss >> 20} MiB is {growth >> 20} MiB over the "
                               f"{self.baseline_rss >> 20} MiB after startup (bound {RSS_BOUND_BYTES >> 20} MiB)")

    # -------------------------------------------------------------------------------------------------- client
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def headers(self, content_type: Optional[str]) -> Dict[str, str]:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def request(self, method: str, path: str, body: Optional[bytes] = None,
                content_type: Optional[str] = "application/json") -> Answer:
        """One request on the kept-alive connection (a fresh one if the server had closed it).

        Raises :class:`PlatformDown` (and marks the platform tainted) when no answer comes within
        ``REQUEST_TIMEOUT_S`` or the server is gone.
        """
        self.requests += 1
        headers = self.headers(content_type if body is not None else None)
        last: Optional[BaseException] = None
        start = time.monotonic()
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self._close()
                answer = Answer(response.status, data, time.monotonic() - start)
                self.statuses[(f"{method} {path}", response.status)] += 1
                self.seconds[f"{method} {path}"] += answer.seconds
                return answer
            except TimeoutError as e:
                self._close()
                self.tainted = True
                raise PlatformDown(f"{method} {path}: no answer within {REQUEST_TIMEOUT_S:g} s; "
                                   f"{self.settled_state()}") from e
            except (OSError, http.client.HTTPException) as e:
                # A kept-alive connection the server closed between requests: once more on a fresh one.
                self._close()
                last = e
                if self.state():
                    break
        self.tainted = True
        raise PlatformDown(f"{method} {path}: {type(last).__name__}: {last}; "
                           f"{self.state() or 'the server is alive but did not answer'}")

    def post(self, path: str, body: bytes, content_type: Optional[str] = "application/json") -> Answer:
        return self.request("POST", path, body, content_type)

    def post_json(self, path: str, document: Any) -> Answer:
        return self.post(path, json.dumps(document).encode())


def check_answer(platform: Platform, path: str, body: bytes, answer: Answer, content_type: Optional[str] = None) -> None:
    """The per-request assertion: an answer below 500 (any 4xx is fine), the process still alive."""
    down = platform.state()
    request = f"content type {content_type}, body {describe_body(body)}"
    if down:
        platform.tainted = True
        raise PlatformDown(f"POST {path} answered {answer.status}, then {down}; the request: {request}")
    if answer.status >= 500:
        raise AssertionError(f"POST {path} answered {answer.status} {answer.text()}; the request: {request}")


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True


@pytest.fixture(scope="session")
def platform_session() -> Iterator[Platform]:
    binary = aios_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        reason = f"no aios binary at {binary} (build it with `swift build`, or set AIOS_BIN)"
        print(f"\nhostile suite skipped: {reason}")
        pytest.skip(reason)
    platform = Platform(binary)
    try:
        platform.start()
    except BaseException:
        platform.close()
        raise
    yield platform
    print(f"\nhostile suite: {platform.requests} requests; RSS {platform.baseline_rss >> 20} MiB after startup, "
          f"peak {platform.peak_rss >> 20} MiB; server restarts: {len(platform.restarts)}"
          + "".join(f"\n  - {why}" for why in platform.restarts))
    for route in sorted(platform.seconds):
        answers = ", ".join(f"{status}: {n}" for (r, status), n in sorted(platform.statuses.items()) if r == route)
        print(f"  {route}: {platform.seconds[route]:.1f} s; {answers}")
    platform.close()


@pytest.fixture
def platform(platform_session: Platform, request: pytest.FixtureRequest) -> Iterator[Platform]:
    """The platform, healthy at the start of the test; after a failed test it is replaced before the next."""
    platform_session.begin_batch()
    yield platform_session
    if request.node.stash.get(FAILED, False):
        platform_session.tainted = True

