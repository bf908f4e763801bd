"""The worker command line, and (when bwrap can run here) the sandbox's real guarantees."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Optional, Tuple

import pytest

from aios_policy.client import WorkerClient
from aios_policy.sandbox import (CODE_MOUNT, SDK_MOUNT, HostLayout, Limits, SandboxSpec, bwrap_available,
                                 build_worker_argv, probe_host, worker_env)
from aios_policy.types import PolicyError
from policy_helpers import PKG

LAYOUT = HostLayout(roots={"/usr": "dir", "/lib": "link:usr/lib", "/lib64": "missing", "/lib32": "missing",
                           "/bin": "link:usr/bin", "/sbin": "missing", "/etc": "dir"},
                    masked=("/etc/shadow",), python_prefixes=("/opt/py3.11",))


def _pairs(argv, flag):
    return [(argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a == flag]


def test_bwrap_argv_shape() -> None:
    spec = SandboxSpec(code_dir="/data/policies/p1/code", python="/data/venvs/p1/bin/python3",
                       venv_dir="/data/venvs/p1", sdk_dir="/sdk", limits=Limits(cpu_seconds=60, address_space=1 << 30,
                                                                                  nproc=32, nofile=128, fsize=1 << 20),
                       env={"POLICY_ID": "p1"})
    argv = build_worker_argv(spec, LAYOUT)
    assert argv[0] == "bwrap"
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    ro = _pairs(argv, "--ro-bind")
    assert ("/usr", "/usr") in ro and ("/etc", "/etc") in ro and ("/dev/null", "/etc/shadow") in ro
    assert ("/opt/py3.11", "/opt/py3.11") in ro and ("/data/venvs/p1", "/data/venvs/p1") in ro
    assert ("/sdk/aios_policy", SDK_MOUNT + "/aios_policy") in ro and ("/data/policies/p1/code", CODE_MOUNT) in ro
    assert not any(src.startswith("/data") and src not in ("/data/venvs/p1", "/data/policies/p1/code") for src, _ in ro)
    assert ("usr/lib", "/lib") in _pairs(argv, "--symlink") and "/lib64" not in argv and "/sbin" not in argv
    assert "--bind" not in argv  # nothing writable but the tmpfs
    assert argv.index("--tmpfs") < argv.index("/data/venvs/p1")  # /tmp first, binds after
    assert argv[argv.index("--remount-ro") + 1] == "/" and argv.index("--remount-ro") > argv.index(CODE_MOUNT)
    env = dict(_pairs(argv, "--setenv"))
    assert env["PYTHONPATH"] == SDK_MOUNT and env["HOME"] == "/tmp" and env["POLICY_ID"] == "p1"
    tail = argv[argv.index("--") + 1:]
    assert tail == ["/data/venvs/p1/bin/python3", "-s", "-m", "aios_policy.limits", "--cpu", "60", "--as", str(1 << 30),
                    "--nproc", "32", "--nofile", "128", "--fsize", str(1 << 20), "--core", "0", "--",
                    "/data/venvs/p1/bin/python3", "-s", "-m", "aios_policy.worker", "--code", CODE_MOUNT]


def test_run_as_and_rlimits_only_modes() -> None:
    spec = SandboxSpec(code_dir="/c", python="/usr/bin/python3", sdk_dir="/sdk", run_as=(65534, 65534),
                       host_python="/usr/bin/python3")
    argv = build_worker_argv(spec, LAYOUT)
    assert argv[:9] == ["/usr/bin/python3", "-s", "-m", "aios_policy.limits", "--uid", "65534", "--gid", "65534", "--"]
    assert argv[9] == "bwrap"
    plain = build_worker_argv(SandboxSpec(code_dir="/c", python="/usr/bin/python3", mode="rlimits_only",
                                          limits=Limits(cpu_seconds=None, address_space=None, nproc=None,
                                                        nofile=None, fsize=None)))
    assert plain == ["/usr/bin/python3", "-s", "-m", "aios_policy.limits", "--core", "0", "--",
                     "/usr/bin/python3", "-s", "-m", "aios_policy.worker", "--code", "/c"]
    with pytest.raises(ValueError):
        build_worker_argv(SandboxSpec(code_dir="/c", python="p", mode="docker"))  # type: ignore[arg-type]


def test_probe_host_reports_real_roots() -> None:
    layout = probe_host(SandboxSpec(code_dir="/c", python=sys.executable))
    assert layout.roots["/usr"] == "dir"
    for d, kind in layout.roots.items():
        assert kind in ("dir", "missing") or kind.startswith("link:")


def test_rlimits_only_worker_runs_a_policy(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "function.py").write_text(
        "import os\nclass AIOSv1PolicyRule:\n  def __init__(s,*a): pass\n"
        "  def eval(s,p,i,c): return {'secret': os.environ.get('PLATFORM_SECRET'), 'i': i}\n")
    spec = SandboxSpec(code_dir=str(code), python=sys.executable, mode="rlimits_only", sdk_dir=str(PKG))
    os.environ["PLATFORM_SECRET"] = "s3cret"
    try:
        with WorkerClient(build_worker_argv(spec), env=worker_env(spec)) as w:
            w.init()
            assert w.eval(5) == {"secret": None, "i": 5}
    finally:
        del os.environ["PLATFORM_SECRET"]


# ----------------------------------------------------------------------------------------------------
# real bubblewrap

_BWRAP: Optional[Tuple[bool, str]] = None


def need_bwrap() -> None:
    global _BWRAP
    if _BWRAP is None:
        _BWRAP = bwrap_available(python=sys.executable)
    if not _BWRAP[0]:
        pytest.skip(_BWRAP[1])


SANDBOX_PROBE = r'''
import os, socket, errno

def attempt(fn):
    try:
        return "ok:" + repr(fn())
    except BaseException as e:
        return "err:" + type(e).__name__ + ":" + str(e)

def connect(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
        return "connected"
    finally:
        s.close()

def forks(n):
    pids, err = [], None
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as e:
            err = e.strerror
            break
        if pid == 0:
            import time; time.sleep(3); os._exit(0)
        pids.append(pid)
    return {"forked": len(pids), "error": err}

class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        pass
    def eval(self, parameters, input_data, context):
        what = input_data["what"]
        if what == "connect":
            return attempt(lambda: connect((input_data["host"], input_data["port"])))
        if what == "read":
            return attempt(lambda: open(input_data["path"]).read())
        if what == "write":
            return attempt(lambda: open(input_data["path"], "w").write("x"))
        if what == "listdir":
            return attempt(lambda: sorted(os.listdir(input_data["path"])))
        if what == "alloc":
            return attempt(lambda: len(bytearray(input_data["bytes"])))
        if what == "forks":
            return forks(input_data["n"])
        if what == "env":
            return dict(os.environ)
        if what == "uid":
            return os.getuid()
'''


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A world-readable temporary directory (a non-root sandbox uid must read the policy code)."""
    d = Path(tempfile.mkdtemp(prefix="aios-policy-test-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sandbox_spec(code: Path, **kw) -> SandboxSpec:
    """Root cannot be held to RLIMIT_NPROC, so as root the worker runs as nobody with the system python."""
    if os.geteuid() == 0:
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else os.path.realpath(sys.executable)
        return SandboxSpec(code_dir=str(code), python=python, sdk_dir=str(PKG), run_as=(65534, 65534), **kw)
    venv = sys.prefix if sys.prefix != sys.base_prefix else None
    return SandboxSpec(code_dir=str(code), python=sys.executable, venv_dir=venv, sdk_dir=str(PKG), **kw)


@pytest.fixture
def sandboxed(shared_dir: Path) -> Iterator[WorkerClient]:
    need_bwrap()
    code = shared_dir / "code"
    code.mkdir()
    (code / "function.py").write_text(SANDBOX_PROBE)
    os.chmod(code, 0o755)
    os.chmod(code / "function.py", 0o644)
    spec = sandbox_spec(code, limits=Limits(nproc=16, address_space=1 << 30))
    w = WorkerClient(build_worker_argv(spec), env=worker_env(spec), stderr=subprocess.PIPE)
    try:
        try:
            w.init(timeout=30)
        except Exception as e:  # noqa: BLE001
            w.kill()
            err = w.proc.stderr.read().decode() if w.proc.stderr else ""
            if "Permission denied" in err or "setting up uid map" in err or "No permissions" in err:
                pytest.skip(f"sandbox cannot start here: {err.strip()[-300:]}")
            raise AssertionError(f"sandboxed worker did not start: {e}: {err}") from None
        yield w
    finally:
        w.close()


def test_sandbox_has_no_network(sandboxed: WorkerClient) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    try:
        out = sandboxed.eval({"what": "connect", "host": "127.0.0.1", "port": port})
        assert out.startswith("err:"), out
        out = sandboxed.eval({"what": "connect", "host": "1.1.1.1", "port": 53})
        assert out.startswith("err:") and ("unreachable" in out or "timed out" in out), out
        assert accepted == []
    finally:
        server.close()


def test_sandbox_hides_files_outside_its_binds(sandboxed: WorkerClient, shared_dir: Path) -> None:
    secret = shared_dir / "data-dir" / "token"
    secret.parent.mkdir()
    secret.write_text("admin-token")
    os.chmod(secret.parent, 0o755)
    os.chmod(secret, 0o644)  # readable by anyone on the host: only the sandbox keeps it out
    out = sandboxed.eval({"what": "read", "path": str(secret)})
    assert out.startswith("err:FileNotFoundError"), out
    shadow = sandboxed.eval({"what": "read", "path": "/etc/shadow"})
    assert shadow == "ok:''" or shadow.startswith("err:"), shadow  # masked by /dev/null, never the hashes
    assert sandboxed.eval({"what": "listdir", "path": "/"}).startswith("ok:")
    assert "work" not in sandboxed.eval({"what": "listdir", "path": "/"})
    env = sandboxed.eval({"what": "env"})
    assert "PYTHONPATH" in env and not any(k.startswith(("AIOS", "SSH", "PLATFORM")) for k in env)


def test_sandbox_is_read_only_but_tmp(sandboxed: WorkerClient) -> None:
    for path in ("/usr/evil", "/etc/evil", f"{CODE_MOUNT}/function.py", "/evil"):
        out = sandboxed.eval({"what": "write", "path": path})
        assert out.startswith("err:"), (path, out)
    name = f"/tmp/aios-policy-scratch-{os.getpid()}"
    assert sandboxed.eval({"what": "write", "path": name}) == "ok:1"
    assert not Path(name).exists()  # a private tmpfs: nothing reaches the host's /tmp
    assert sandboxed.eval({"what": "read", "path": name}) == "ok:'x'"


def test_sandbox_fork_loop_is_stopped_by_nproc(sandboxed: WorkerClient) -> None:
    out = sandboxed.eval({"what": "forks", "n": 200}, timeout=30)
    assert out["error"] is not None and out["forked"] < 16, out
    assert sandboxed.ping()["initialised"] is True


def test_sandbox_memory_limit_is_an_eval_error_not_a_crash(sandboxed: WorkerClient) -> None:
    out = sandboxed.eval({"what": "alloc", "bytes": 4 * 1024**3})
    assert out.startswith("err:MemoryError"), out
    assert sandboxed.eval({"what": "alloc", "bytes": 1024}) == "ok:1024"
