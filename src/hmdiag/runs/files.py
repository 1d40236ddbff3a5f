"""Writing a user's files safely: an output path is checked before any work, and written
through a temporary file replaced in one step, so a file is never overwritten by accident
or left half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hmdiag.errors import OutputError


def check_output_path(path: Path, *, force: bool, flag: str = "--out") -> None:
    """Fail early (before any sampling) if ``path`` cannot be written or would be clobbered."""
    if path.exists() and path.is_dir():
        raise OutputError(f"{path}: is a directory; {flag} needs a file path")
    if path.exists() and not path.is_file():
        raise OutputError(
            f"{path}: is not a regular file (a device, pipe or socket); {flag} needs a file path"
        )
    if path.exists() and not force:
        raise OutputError(
            f"{path}: already exists; refusing to overwrite",
            f"pass --force to replace it, or choose another {flag}",
        )
    existing = path.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{path}: {existing} is a file, not a folder", f"choose another {flag}")
    if not os.access(existing, os.W_OK):
        raise OutputError(
            f"{path}: folder {existing} is not writable", f"choose a writable {flag} location"
        )


def write_atomically(
    path: Path, write: Any, *, force: bool, suffix: str = "", flag: str = "--out"
) -> None:
    """Call ``write(tmp_path)`` on a temp file beside ``path``, then rename it into place.

    A crash or kill mid-write leaves any previous file untouched; without ``force`` an
    existing file is never replaced.
    """
    check_output_path(path, force=force, flag=flag)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if path.exists() and not force:
            raise OutputError(
                f"{path}: appeared while writing; refusing to overwrite", "pass --force"
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
