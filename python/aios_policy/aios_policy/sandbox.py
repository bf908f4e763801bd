"""The command line that starts one policy worker, sandboxed with bubblewrap, or with rlimits only.

:func:`build_worker_argv` is pure: every fact about the host it needs is in a :class:`HostLayout`
(probe one with :func:`probe_host`). The argv, in ``bwrap`` mode::

    [python -m aios_policy.limits --uid U --gid G --]        # only with run_as (platform is root)
    bwrap --unshare-all --unshare-user --die-with-parent --new-session --cap-drop ALL
          --ro-bind /usr /usr   (and /lib /lib64 /bin /sbin /etc: bound when directories,
                                 --symlink when symlinks, skipped when missing)
          --ro-bind /dev/null /etc/shadow ...                 # secrets under /etc masked
          --tmpfs /tmp --proc /proc --dev /dev                # before the binds (a venv may be in /tmp)
          --ro-bind <python prefix> <same>                    # when the interpreter is outside /usr
          --ro-bind <venv> <same>                             # when the policy has a venv
          --ro-bind <sdk>/aios_policy /opt/aios-policy/aios_policy
          --ro-bind <code dir> /policy/code
          --remount-ro /                                      # the sandbox's own root tmpfs, too
          --chdir /tmp
          --clearenv --setenv PATH /usr/bin:/bin --setenv HOME /tmp --setenv LANG C.UTF-8
          --setenv PYTHONPATH /opt/aios-policy --setenv PYTHONDONTWRITEBYTECODE 1
          --setenv PYTHONNOUSERSITE 1 [--setenv K V for extra env]
          --
      <python> -s -m aios_policy.limits --cpu S --as B --nproc N --nofile N --fsize B --core 0 --
      <python> -s -m aios_policy.worker --code /policy/code

Nothing else of the host is visible: not the data dir, not $HOME, no network (``--unshare-all``
unshares the network namespace, leaving only a down loopback). The root is read-only; ``/tmp`` is a
private tmpfs (size bounded by RLIMIT_FSIZE per file and by memory). ``rlimits_only`` mode keeps just
the limits wrapper and the worker (for hosts without bwrap or user namespaces): no isolation beyond
rlimits, a fresh environment and ``cwd``.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Literal, Mapping, Optional, Sequence, Tuple

from .limits import limit_args

CODE_MOUNT = "/policy/code"
SDK_MOUNT = "/opt/aios-policy"
ROOT_DIRS: Tuple[str, ...] = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc")
MASKED_FILES: Tuple[str, ...] = ("/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers")

Mode = Literal["bwrap", "rlimits_only"]


@dataclass(frozen=True)
class Limits:
    """Per-worker rlimits. ``cpu_seconds`` is a *lifetime* budget of the long-lived worker (the
    per-call deadline is the caller's job); hitting it kills the worker, which is then restarted."""

    cpu_seconds: Optional[int] = 600
    address_space: Optional[int] = 2 * 1024**3
    nproc: Optional[int] = 64
    nofile: Optional[int] = 256
    fsize: Optional[int] = 64 * 1024**2

    def args(self) -> List[str]:
        return limit_args(self.cpu_seconds, self.address_space, self.nproc, self.nofile, self.fsize, core=0)


@dataclass(frozen=True)
class SandboxSpec:
    code_dir: str
    """Host path of the policy's ``code`` directory (holds function.py); bound read-only."""
    python: str
    """Interpreter to run inside: the policy venv's ``bin/python3``, or a host python."""
    venv_dir: Optional[str] = None
    """The policy's virtualenv (bound read-only at its own path; venvs hold absolute paths)."""
    sdk_dir: Optional[str] = None
    """Directory that contains the ``aios_policy`` package (default: this installation's)."""
    limits: Limits = field(default_factory=Limits)
    mode: Mode = "bwrap"
    run_as: Optional[Tuple[int, int]] = None
    """(uid, gid) to switch to before bwrap; needed when the platform runs as root, because the kernel
    does not enforce RLIMIT_NPROC for root. The paths above must then be readable by that uid."""
    extra_ro_binds: Tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    bwrap: str = "bwrap"
    host_python: str = sys.executable
    """Interpreter (outside the sandbox) that runs the run_as wrapper."""


@dataclass(frozen=True)
class HostLayout:
    """What :func:`build_worker_argv` needs to know about the host filesystem."""

    roots: Dict[str, str]
    """For each of :data:`ROOT_DIRS`: ``"dir"``, ``"missing"``, or ``"link:<target>"``."""
    masked: Tuple[str, ...] = ()
    """Files of :data:`MASKED_FILES` that exist (hidden behind /dev/null)."""
    python_prefixes: Tuple[str, ...] = ()
    """Directories the interpreter lives in that are not under a bound root (e.g. pyenv's prefix)."""


def default_sdk_dir() -> str:
    return str(Path(__file__).resolve().parent.parent)


def _covered(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def probe_host(spec: SandboxSpec) -> HostLayout:
    roots: Dict[str, str] = {}
    for d in ROOT_DIRS:
        if os.path.islink(d):
            roots[d] = "link:" + os.readlink(d)
        elif os.path.isdir(d):
            roots[d] = "dir"
        else:
            roots[d] = "missing"
    masked = tuple(f for f in MASKED_FILES if os.path.isfile(f))
    bound = [d for d, kind in roots.items() if kind == "dir"]
    prefixes: List[str] = []
    candidates = [spec.python]
    if spec.venv_dir:
        candidates.append(os.path.join(spec.venv_dir, "bin", "python3"))
    for exe in candidates:
        real = os.path.realpath(exe)
        prefix = str(Path(real).parent.parent)  # <prefix>/bin/python3.X -> <prefix>
        if not _covered(real, bound) and prefix not in prefixes:
            prefixes.append(prefix)
    return HostLayout(roots=roots, masked=masked, python_prefixes=tuple(prefixes))


def build_worker_argv(spec: SandboxSpec, layout: Optional[HostLayout] = None) -> List[str]:
    """The worker's full argv (pure when ``layout`` is given; see the module docstring)."""
    sdk = spec.sdk_dir or default_sdk_dir()
    if spec.mode == "rlimits_only":
        return [spec.python, "-s", "-m", "aios_policy.limits", *spec.limits.args(), "--",
                spec.python, "-s", "-m", "aios_policy.worker", "--code", str(spec.code_dir)]
    if spec.mode != "bwrap":
        raise ValueError(f"unknown sandbox mode {spec.mode!r} (bwrap|rlimits_only)")
    if layout is None:
        layout = probe_host(spec)
    argv: List[str] = []
    if spec.run_as is not None:
        uid, gid = spec.run_as
        argv += [spec.host_python, "-s", "-m", "aios_policy.limits", "--uid", str(uid), "--gid", str(gid), "--"]
    argv += [spec.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
             "--cap-drop", "ALL"]
    for d in ROOT_DIRS:
        kind = layout.roots.get(d, "missing")
        if kind == "dir":
            argv += ["--ro-bind", d, d]
        elif kind.startswith("link:"):
            argv += ["--symlink", kind[5:], d]
    if layout.roots.get("/etc") == "dir":
        for f in layout.masked:
            argv += ["--ro-bind", "/dev/null", f]
    # /tmp first: binds below may live under /tmp (a venv in /tmp) and must not be hidden by it
    argv += ["--tmpfs", "/tmp", "--proc", "/proc", "--dev", "/dev"]
    binds: List[str] = list(layout.python_prefixes)
    if spec.venv_dir:
        binds.append(str(spec.venv_dir))
    binds += list(spec.extra_ro_binds)
    for b in binds:
        argv += ["--ro-bind", b, b]
    argv += ["--ro-bind", os.path.join(sdk, "aios_policy"), SDK_MOUNT + "/aios_policy",
             "--ro-bind", str(spec.code_dir), CODE_MOUNT,
             "--remount-ro", "/", "--chdir", "/tmp",
             "--clearenv"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
           "PYTHONPATH": SDK_MOUNT, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}
    env.update(spec.env)
    for k, v in env.items():
        argv += ["--setenv", k, v]
    argv += ["--", spec.python, "-s", "-m", "aios_policy.limits", *spec.limits.args(), "--",
             spec.python, "-s", "-m", "aios_policy.worker", "--code", CODE_MOUNT]
    return argv


def worker_env(spec: SandboxSpec) -> Dict[str, str]:
    """The environment to start the argv with. In bwrap mode the sandbox clears it anyway; in
    rlimits_only mode this *is* the worker's environment (no secrets of the platform)."""
    sdk = spec.sdk_dir or default_sdk_dir()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONNOUSERSITE": "1", "PYTHONPATH": sdk}
    env.update(spec.env)
    return env


def bwrap_available(bwrap: str = "bwrap", python: str = sys.executable) -> Tuple[bool, str]:
    """(usable, reason): whether ``bwrap`` exists and can create the namespaces used above."""
    import subprocess

    exe = shutil.which(bwrap)
    if exe is None:
        return False, f"{bwrap} is not installed"
    python = os.path.realpath(python)  # a venv under /tmp would be hidden by the probe's tmpfs
    spec = SandboxSpec(code_dir="/nonexistent", python=python)
    layout = probe_host(spec)
    argv = [exe, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for d in ROOT_DIRS:
        kind = layout.roots.get(d, "missing")
        if kind == "dir":
            argv += ["--ro-bind", d, d]
        elif kind.startswith("link:"):
            argv += ["--symlink", kind[5:], d]
    for p in layout.python_prefixes:
        argv += ["--ro-bind", p, p]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--", python, "-c", "pass"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bwrap failed to run: {e}"
    if r.returncode != 0:
        return False, "bwrap cannot create a sandbox here: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return True, exe
