"""Apply resource limits (and optionally drop to another uid), then exec a command.

    python3 -m aios_policy.limits [--cpu S] [--as BYTES] [--nproc N] [--nofile N] [--fsize BYTES]
                                  [--core BYTES] [--uid UID --gid GID] -- cmd [args...]

Each limit sets soft = hard (CPU: soft = S, hard = S + 1, so SIGXCPU comes first and SIGKILL a second
later). Limits can only be lowered by an unprivileged process, and they survive ``execve``.
``--uid/--gid`` (root only) clear supplementary groups, then setgid, then setuid, before the limits.
Note that the kernel does not apply RLIMIT_NPROC to root (uid 0 of the host): a worker that must be
stopped from fork-looping has to run under a non-root host uid.

Exit codes (as env(1)): 125 bad arguments or a limit/uid that cannot be set; 126 the command cannot be
executed; 127 the command is not found. Otherwise the command replaces this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
from typing import List, Optional, Sequence, Tuple

EXIT_FAILED = 125
EXIT_CANNOT_EXEC = 126
EXIT_NOT_FOUND = 127


def limit_args(cpu: Optional[int] = None, address_space: Optional[int] = None, nproc: Optional[int] = None,
               nofile: Optional[int] = None, fsize: Optional[int] = None, core: Optional[int] = 0) -> List[str]:
    """The command-line flags for the given limits (None: leave that limit as inherited)."""
    out: List[str] = []
    for flag, value in (("--cpu", cpu), ("--as", address_space), ("--nproc", nproc),
                        ("--nofile", nofile), ("--fsize", fsize), ("--core", core)):
        if value is not None:
            out += [flag, str(int(value))]
    return out


def parse(argv: Sequence[str]) -> Tuple[argparse.Namespace, List[str]]:
    argv = list(argv)
    if "--" not in argv:
        raise SystemExit("aios_policy.limits: missing '--' before the command")
    i = argv.index("--")
    own, cmd = argv[:i], argv[i + 1:]
    if not cmd:
        raise SystemExit("aios_policy.limits: no command after '--'")
    ap = argparse.ArgumentParser(prog="python -m aios_policy.limits")
    nonneg = _nonneg
    ap.add_argument("--cpu", type=nonneg, help="CPU seconds (RLIMIT_CPU)")
    ap.add_argument("--as", dest="address_space", type=nonneg, help="address space bytes (RLIMIT_AS)")
    ap.add_argument("--nproc", type=nonneg, help="processes+threads of the uid (RLIMIT_NPROC)")
    ap.add_argument("--nofile", type=nonneg, help="open files (RLIMIT_NOFILE)")
    ap.add_argument("--fsize", type=nonneg, help="largest file written, bytes (RLIMIT_FSIZE)")
    ap.add_argument("--core", type=nonneg, help="core file bytes (RLIMIT_CORE)")
    ap.add_argument("--uid", type=nonneg)
    ap.add_argument("--gid", type=nonneg)
    return ap.parse_args(own), cmd


def _nonneg(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return v


def apply(ns: argparse.Namespace) -> None:
    if ns.uid is not None or ns.gid is not None:
        if ns.uid is None or ns.gid is None:
            raise OSError("--uid and --gid go together")
        os.setgroups([])
        os.setgid(ns.gid)
        os.setuid(ns.uid)
    table = [
        (resource.RLIMIT_AS, ns.address_space, 0),
        (resource.RLIMIT_NPROC, ns.nproc, 0),
        (resource.RLIMIT_NOFILE, ns.nofile, 0),
        (resource.RLIMIT_FSIZE, ns.fsize, 0),
        (resource.RLIMIT_CORE, ns.core, 0),
        (resource.RLIMIT_CPU, ns.cpu, 1),
    ]
    for which, value, grace in table:
        if value is None:
            continue
        _, hard = resource.getrlimit(which)
        new_hard = value + grace
        if hard != resource.RLIM_INFINITY and new_hard > hard:
            new_hard = hard
        resource.setrlimit(which, (min(value, new_hard), new_hard))


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        ns, cmd = parse(sys.argv[1:] if argv is None else argv)
    except SystemExit as e:
        if e.code not in (0, None) and not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        return EXIT_FAILED if e.code not in (0, None) else 0
    try:
        apply(ns)
    except (OSError, ValueError) as e:
        print(f"aios_policy.limits: cannot apply limits: {e}", file=sys.stderr)
        return EXIT_FAILED
    try:
        os.execvp(cmd[0], cmd)
    except FileNotFoundError:
        print(f"aios_policy.limits: {cmd[0]}: not found", file=sys.stderr)
        return EXIT_NOT_FOUND
    except OSError as e:
        print(f"aios_policy.limits: {cmd[0]}: {e}", file=sys.stderr)
        return EXIT_CANNOT_EXEC
    return EXIT_CANNOT_EXEC  # not reached


if __name__ == "__main__":
    sys.exit(main())
