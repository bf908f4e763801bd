"""Policy archives: check them without extracting or importing, and extract them safely.

    python -m aios_policy.archive check FILE          # prints one JSON object; exit 0 ok, 1 rejected
    python -m aios_policy.archive extract FILE DEST   # checks, then extracts; same JSON; exit 0/1

An archive is a ``.zip`` or a tar (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``, ``.tar.xz``; the format
is sniffed, not taken from the name) holding ``code/function.py`` and optionally
``code/requirements.txt``. Rules (:class:`ArchiveLimits`): at most 10 MiB compressed, 50 MiB
uncompressed (sum of member sizes), 1000 members; member names relative, without ``..`` components,
backslashes or NUL; regular files and directories only (no symlinks, hard links, devices, FIFOs);
no two members with the same normalised name; ``code/function.py`` must parse (``ast``) and define a
module-level ``class AIOSv1PolicyRule`` (warnings when it has no ``eval`` method taking
``(self, parameters, input_data, context)``).
"""

from __future__ import annotations

import ast
import json
import os
import stat
import sys
import tarfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

FUNCTION_PATH = "code/function.py"
REQUIREMENTS_PATH = "code/requirements.txt"
CLASS_NAME = "AIOSv1PolicyRule"


@dataclass(frozen=True)
class ArchiveLimits:
    max_compressed: int = 10 * 1024 * 1024
    max_uncompressed: int = 50 * 1024 * 1024
    max_files: int = 1000


@dataclass
class ArchiveReport:
    ok: bool = False
    format: str = ""
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    files: int = 0
    compressedBytes: int = 0
    uncompressedBytes: int = 0
    hasRequirements: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


@dataclass(frozen=True)
class _Member:
    name: str  # normalised
    kind: str  # "file" | "dir" | other (rejected)
    size: int


def normalise(name: str) -> Tuple[str, Optional[str]]:
    """(normalised name, error or None)."""
    if "\x00" in name:
        return name, f"{name!r}: NUL in name"
    if "\\" in name:
        return name, f"{name!r}: backslash in name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return name, f"{name!r}: absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return name, f"{name!r}: '..' in path"
    return "/".join(parts), None


def _zip_members(zf: zipfile.ZipFile) -> Iterator[Tuple[str, str, int]]:
    for info in zf.infolist():
        # Unix zips keep st_mode in the high 16 bits; a file-type of 0 (writestr, DOS zips) is a file
        mode = (info.external_attr >> 16) & 0xFFFF
        ftype = stat.S_IFMT(mode)
        if info.is_dir():
            kind = "dir"
        elif ftype and stat.S_ISLNK(mode):
            kind = "symlink"
        elif ftype and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            kind = "special"
        else:
            kind = "file"
        yield info.filename, kind, info.file_size


def _tar_kind(ti: tarfile.TarInfo) -> str:
    if ti.isreg():
        return "file"
    if ti.isdir():
        return "dir"
    if ti.issym():
        return "symlink"
    if ti.islnk():
        return "hardlink"
    return "special"


def _check_function(source: bytes, report: ArchiveReport) -> None:
    try:
        tree = ast.parse(source.decode("utf-8"), filename=FUNCTION_PATH)
    except (SyntaxError, UnicodeDecodeError, ValueError) as e:
        report.errors.append(f"{FUNCTION_PATH} does not parse: {e}")
        return
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == CLASS_NAME), None)
    if cls is None:
        assigned = any(isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == CLASS_NAME for t in n.targets)
                       for n in tree.body)
        if assigned:
            report.warnings.append(f"{CLASS_NAME} is assigned, not defined by a class statement")
        else:
            report.errors.append(f"{FUNCTION_PATH} defines no class {CLASS_NAME}")
        return
    methods = {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    ev = methods.get("eval")
    if ev is None:
        report.warnings.append(f"{CLASS_NAME} has no eval method in its class body (inherited?)")
    elif len(ev.args.args) < 4 and ev.args.vararg is None:
        report.warnings.append(f"{CLASS_NAME}.eval should take (self, parameters, input_data, context)")
    init = methods.get("__init__")
    if init is not None and len(init.args.args) < 4 and init.args.vararg is None:
        report.warnings.append(f"{CLASS_NAME}.__init__ should take (self, rule_id, settings, parameters)")


def _open(path: Path, report: ArchiveReport) -> "zipfile.ZipFile | tarfile.TarFile | None":
    try:
        if zipfile.is_zipfile(path):
            report.format = "zip"
            return zipfile.ZipFile(path)
        tf = tarfile.open(path, "r:*")
        report.format = "tar"
        return tf
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        report.errors.append(f"not a readable .zip or tar archive: {e}")
        return None


def check_archive(path: "str | Path", limits: ArchiveLimits = ArchiveLimits()) -> ArchiveReport:
    """Check ``path`` against the rules above; never extracts to disk, never imports."""
    report = ArchiveReport()
    path = Path(path)
    try:
        st = path.stat()
    except OSError as e:
        report.errors.append(f"cannot read archive: {e}")
        return report
    report.compressedBytes = st.st_size
    if not stat.S_ISREG(st.st_mode):
        report.errors.append("archive is not a regular file")
        return report
    if st.st_size > limits.max_compressed:
        report.errors.append(f"archive is {st.st_size} bytes, over the {limits.max_compressed}-byte limit")
        return report
    arc = _open(path, report)
    if arc is None:
        return report
    seen: Dict[str, str] = {}
    function_src: Optional[bytes] = None
    try:
        entries: Iterator[Tuple[str, str, int]]
        if isinstance(arc, zipfile.ZipFile):
            entries = _zip_members(arc)
        else:
            entries = ((ti.name, _tar_kind(ti), ti.size) for ti in arc)
        for raw, kind, size in entries:
            report.files += 1
            if report.files > limits.max_files:
                report.errors.append(f"more than {limits.max_files} members")
                break
            name, err = normalise(raw)
            if err:
                report.errors.append(err)
                continue
            if kind in ("symlink", "hardlink", "special"):
                report.errors.append(f"{raw!r}: {kind} members are not allowed (regular files and directories only)")
                continue
            if name in seen and not (kind == "dir" and seen[name] == "dir"):
                report.errors.append(f"{raw!r}: duplicate member")
                continue
            seen[name] = kind
            if kind == "file":
                report.uncompressedBytes += max(size, 0)
                if report.uncompressedBytes > limits.max_uncompressed:
                    report.errors.append(f"uncompressed size over the {limits.max_uncompressed}-byte limit")
                    break
        if not report.errors:
            if seen.get(FUNCTION_PATH) != "file":
                report.errors.append(f"archive has no {FUNCTION_PATH}")
            else:
                function_src = _read_member(arc, FUNCTION_PATH, limits.max_uncompressed)
            report.hasRequirements = seen.get(REQUIREMENTS_PATH) == "file"
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, RuntimeError) as e:
        report.errors.append(f"corrupt archive: {e}")
    finally:
        arc.close()
    if function_src is not None:
        _check_function(function_src, report)
    report.ok = not report.errors
    return report


def _read_member(arc: "zipfile.ZipFile | tarfile.TarFile", name: str, cap: int) -> bytes:
    if isinstance(arc, zipfile.ZipFile):
        for info in arc.infolist():
            if normalise(info.filename)[0] == name:
                with arc.open(info) as f:
                    return f.read(cap + 1)[:cap]
    else:
        for ti in arc.getmembers():
            if normalise(ti.name)[0] == name and ti.isreg():
                f = arc.extractfile(ti)
                if f is not None:
                    return f.read(cap + 1)[:cap]
    raise OSError(f"{name} vanished")


def extract_archive(path: "str | Path", dest: "str | Path", limits: ArchiveLimits = ArchiveLimits()) -> ArchiveReport:
    """Check, then write regular files (mode 0644) and directories (0755) under ``dest`` (created,
    must be empty or missing). Reads never exceed the declared sizes nor the uncompressed limit."""
    report = check_archive(path, limits)
    if not report.ok:
        return report
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        report.ok = False
        report.errors.append(f"destination {dest} is not empty")
        return report
    budget = limits.max_uncompressed
    arc = _open(Path(path), report)
    assert arc is not None
    try:
        items: List[Tuple[str, bool, object]] = []
        if isinstance(arc, zipfile.ZipFile):
            items = [(normalise(i.filename)[0], i.is_dir(), i) for i in arc.infolist()]
        else:
            items = [(normalise(t.name)[0], t.isdir(), t) for t in arc.getmembers()]
        for name, is_dir, member in items:
            if not name:
                continue
            target = dest.joinpath(*name.split("/"))
            if is_dir:
                target.mkdir(mode=0o755, parents=True, exist_ok=True)
                continue
            target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            if isinstance(arc, zipfile.ZipFile):
                src = arc.open(member)  # type: ignore[arg-type]
            else:
                src = arc.extractfile(member)  # type: ignore[arg-type]
            if src is None:
                continue
            with src, open(target, "xb") as out:
                os.chmod(target, 0o644)
                while True:
                    chunk = src.read(min(65536, budget + 1))
                    if not chunk:
                        break
                    budget -= len(chunk)
                    if budget < 0:
                        raise OSError("uncompressed size over the limit while extracting")
                    out.write(chunk)
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, RuntimeError) as e:
        report.ok = False
        report.errors.append(f"extraction failed: {e}")
    finally:
        arc.close()
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "check":
        report = check_archive(args[1])
    elif len(args) == 3 and args[0] == "extract":
        report = extract_archive(args[1], args[2])
    else:
        print("usage: python -m aios_policy.archive check FILE | extract FILE DEST", file=sys.stderr)
        return 2
    print(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
