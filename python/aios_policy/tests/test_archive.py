from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Dict

import pytest

from aios_policy.archive import ArchiveLimits, check_archive, extract_archive
from policy_helpers import ECHO_POLICY, PKG

GOOD = {"code/function.py": ECHO_POLICY, "code/requirements.txt": "numpy\n"}


def make_tar(path: Path, files: Dict[str, str], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tf:
        for name, text in files.items():
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return path


def make_zip(path: Path, files: Dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


@pytest.mark.parametrize("maker,suffix", [(make_tar, "tar.gz"), (make_zip, "zip")])
def test_good_archives_pass_and_extract(tmp_path: Path, maker, suffix: str) -> None:
    arc = maker(tmp_path / f"p.{suffix}", {"./code/": "", **GOOD} if suffix == "zip" else GOOD)
    r = check_archive(arc)
    assert r.ok, r.errors
    assert r.hasRequirements and r.format in ("tar", "zip") and r.warnings == []
    out = extract_archive(arc, tmp_path / "x")
    assert out.ok, out.errors
    assert (tmp_path / "x/code/function.py").read_text() == ECHO_POLICY
    assert oct((tmp_path / "x/code/function.py").stat().st_mode & 0o777) == "0o644"


def test_traversal_absolute_and_missing_function(tmp_path: Path) -> None:
    r = check_archive(make_tar(tmp_path / "a.tar.gz", {**GOOD, "../evil.py": "x"}))
    assert not r.ok and any("'..'" in e for e in r.errors)
    r = check_archive(make_tar(tmp_path / "b.tar.gz", {**GOOD, "code/../../evil.py": "x"}))
    assert not r.ok and any("'..'" in e for e in r.errors)
    r = check_archive(make_zip(tmp_path / "c.zip", {**GOOD, "/etc/cron.d/x": "x"}))
    assert not r.ok and any("absolute" in e for e in r.errors)
    r = check_archive(make_zip(tmp_path / "d.zip", {"function.py": ECHO_POLICY}))
    assert not r.ok and r.errors == ["archive has no code/function.py"]
    r = check_archive(make_tar(tmp_path / "e.tar.gz", {"code/function.py": "class Other:\n  pass\n"}))
    assert not r.ok and r.errors == ["code/function.py defines no class AIOSv1PolicyRule"]
    r = check_archive(make_tar(tmp_path / "f.tar.gz", {"code/function.py": "def broken(:\n"}))
    assert not r.ok and "does not parse" in r.errors[0]
    r = check_archive(make_tar(tmp_path / "g.tar.gz", {"code/function.py": "class AIOSv1PolicyRule:\n  def eval(self, x): pass\n"}))
    assert r.ok and any("eval should take" in w for w in r.warnings)


def test_links_and_devices_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "links.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        data = ECHO_POLICY.encode()
        ti = tarfile.TarInfo("code/function.py"); ti.size = len(data); tf.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("code/secret"); link.type = tarfile.SYMTYPE; link.linkname = "/etc/passwd"; tf.addfile(link)
        hard = tarfile.TarInfo("code/hard"); hard.type = tarfile.LNKTYPE; hard.linkname = "code/function.py"; tf.addfile(hard)
        dev = tarfile.TarInfo("code/dev"); dev.type = tarfile.CHRTYPE; dev.devmajor, dev.devminor = 1, 3; tf.addfile(dev)
        fifo = tarfile.TarInfo("code/fifo"); fifo.type = tarfile.FIFOTYPE; tf.addfile(fifo)
    r = check_archive(path)
    assert not r.ok
    joined = " ".join(r.errors)
    for what in ("symlink", "hardlink", "special"):
        assert what in joined
    zpath = tmp_path / "link.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("code/function.py", ECHO_POLICY)
        zi = zipfile.ZipInfo("code/link"); zi.external_attr = (0o120777 << 16); zf.writestr(zi, "/etc/passwd")
    r = check_archive(zpath)
    assert not r.ok and any("symlink" in e for e in r.errors)
    assert not extract_archive(zpath, tmp_path / "never").ok and not (tmp_path / "never").exists()


def test_size_and_count_limits(tmp_path: Path) -> None:
    big = make_zip(tmp_path / "big.zip", {**GOOD, "code/blob.bin": "0" * (51 * 1024 * 1024)})
    assert big.stat().st_size < 10 * 1024 * 1024  # compresses well: a bomb by ratio
    r = check_archive(big)
    assert not r.ok and any("uncompressed size" in e for e in r.errors)
    many = make_tar(tmp_path / "many.tar.gz", {**GOOD, **{f"code/f{i}.txt": "" for i in range(1001)}})
    r = check_archive(many)
    assert not r.ok and any("more than 1000 members" in e for e in r.errors)
    r = check_archive(make_tar(tmp_path / "s.tar.gz", GOOD), ArchiveLimits(max_compressed=10))
    assert not r.ok and "over the 10-byte limit" in r.errors[0]
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"definitely not an archive")
    r = check_archive(junk)
    assert not r.ok and "not a readable" in r.errors[0]


def test_cli_prints_json(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PKG)}
    ok = subprocess.run([sys.executable, "-m", "aios_policy.archive", "check", str(make_tar(tmp_path / "p.tgz", GOOD))],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    bad = subprocess.run([sys.executable, "-m", "aios_policy.archive", "check", str(make_zip(tmp_path / "b.zip", {"x": "y"}))],
                         capture_output=True, text=True, env=env)
    rep = json.loads(bad.stdout)
    assert bad.returncode == 1 and rep["ok"] is False and rep["errors"]
    usage = subprocess.run([sys.executable, "-m", "aios_policy.archive"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2
    via_runner = subprocess.run([sys.executable, "-m", "aios_policy", "check", "--archive", str(tmp_path / "p.tgz")],
                                capture_output=True, text=True, env=env)
    assert via_runner.returncode == 0 and json.loads(via_runner.stdout)["ok"] is True
