from __future__ import annotations

import os
import signal
import subprocess
import sys

from aios_policy.limits import limit_args
from policy_helpers import PKG

ENV = {**os.environ, "PYTHONPATH": str(PKG)}
WRAP = [sys.executable, "-m", "aios_policy.limits"]


def run(flags, code: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(WRAP + flags + ["--", sys.executable, "-c", code], env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def test_limits_are_applied_then_the_command_execs() -> None:
    r = run(limit_args(cpu=5, address_space=1 << 30, nproc=50, nofile=64, fsize=1 << 20),
            "import resource as r, os;print([r.getrlimit(x) for x in (r.RLIMIT_CPU, r.RLIMIT_AS, r.RLIMIT_NPROC, "
            "r.RLIMIT_NOFILE, r.RLIMIT_FSIZE, r.RLIMIT_CORE)])")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str([(5, 6), (1 << 30, 1 << 30), (50, 50), (64, 64), (1 << 20, 1 << 20), (0, 0)])


def test_cpu_limit_kills_a_busy_loop() -> None:
    r = run(["--cpu", "1"], "while True: pass")
    assert r.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def test_address_space_limit_stops_a_4gb_allocation() -> None:
    r = run(["--as", str(1 << 30)], "b = bytearray(4 * 1024**3)")
    assert r.returncode == 1 and "MemoryError" in r.stderr
    ok = run([], "b = bytearray(64 * 1024**2); print(len(b))")
    assert ok.returncode == 0


def test_fsize_limit_stops_a_big_write(tmp_path) -> None:
    target = tmp_path / "big"
    r = run(["--fsize", "1000000"], f"import signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            f"open({str(target)!r}, 'wb').write(b'0' * 2000000)")
    assert r.returncode == 1 and "File too large" in r.stderr
    assert target.stat().st_size <= 1000000


def test_wrapper_errors_use_env_exit_codes() -> None:
    assert subprocess.run(WRAP + ["--cpu", "1"], env=ENV, capture_output=True).returncode == 125
    assert subprocess.run(WRAP + ["--cpu", "-1", "--", "true"], env=ENV, capture_output=True).returncode == 125
    assert subprocess.run(WRAP + ["--", "/nonexistent/cmd"], env=ENV, capture_output=True).returncode == 127
    assert subprocess.run(WRAP + ["--", "/"], env=ENV, capture_output=True).returncode == 126
