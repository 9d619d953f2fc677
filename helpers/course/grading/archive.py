"""Hand-ins as they arrive: a folder of zips or folders, one per student, unpacked safely into an empty folder."""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from helpers.course.grading.config import GradingError


class UnsafeSubmission(Exception):
    """A hand-in that is refused before anything runs (unsafe or oversized archive)."""


def _refuse_name(name: str) -> str | None:
    """Why an archive member name is refused, or ``None``."""
    if "\\" in name or "\0" in name:
        return f"{name!r}: backslashes and NUL are not allowed in names"
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return f"{name!r}: an absolute path"
    if ".." in path.parts:
        return f"{name!r}: a path leading out of the folder ('..')"
    return None


def unpack(source: Path, dest: Path, max_bytes: int, max_files: int) -> list[str]:
    """Copy a hand-in (a zip or a folder) into the empty folder ``dest``; returns the relative paths written.

    Refused with ``UnsafeSubmission`` (nothing run, the reason in the message):
    absolute paths, ``..``, symbolic links, more than ``max_files`` files, or
    more than ``max_bytes`` in total (counted while decompressing, so a zip
    bomb that lies about its sizes stops at the limit too).
    """
    source = Path(source)
    written, total = [], 0
    if source.is_symlink():
        raise UnsafeSubmission(f"{source.name}: a symbolic link")

    def account(size: int) -> None:
        nonlocal total
        total += size
        if total > max_bytes:
            raise UnsafeSubmission(f"more than {max_bytes / 2**20:.0f} MB once unpacked (a zip bomb?)")

    if source.is_dir():
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            if path.is_symlink():
                raise UnsafeSubmission(f"{rel}: a symbolic link")
            if path.is_dir():
                continue
            if not path.is_file():
                raise UnsafeSubmission(f"{rel}: not a regular file")
            if len(written) >= max_files:
                raise UnsafeSubmission(f"more than {max_files} files")
            account(path.stat().st_size)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
            written.append(rel)
        return written
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as err:
        raise UnsafeSubmission(f"{source.name} is not a readable zip file ({err})") from None
    with archive:
        members = archive.infolist()
        for info in members:  # check every name before writing anything
            problem = _refuse_name(info.filename)
            if problem:
                raise UnsafeSubmission(problem)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeSubmission(f"{info.filename}: a symbolic link")
        files = [m for m in members if not m.is_dir()]
        if len(files) > max_files:
            raise UnsafeSubmission(f"more than {max_files} files")
        if sum(m.file_size for m in files) > max_bytes:
            raise UnsafeSubmission(f"more than {max_bytes / 2**20:.0f} MB once unpacked (a zip bomb?)")
        for info in files:
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        account(len(chunk))
                        out.write(chunk)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError) as err:
                raise UnsafeSubmission(f"{info.filename}: cannot be extracted ({err})") from None
            written.append(info.filename)
    return written


def student_id(path: Path) -> str:
    """The student id of a hand-in: the zip's name without ``.zip``, or the folder's name."""
    return path.name[:-4] if path.name.lower().endswith(".zip") else path.name


def safe_name(student: str) -> str:
    """A file name for a student id: letters, digits, ``.``, ``_`` and ``-`` kept, the rest ``_``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".")
    return name or "_"


def find_submissions(folder: Path) -> list[tuple[str, Path]]:
    """``[(student id, path)]`` for the zips and folders in ``folder``, sorted; ``GradingError`` on two with one id."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of hand-ins (zips or folders, one per student).")
    found, seen = [], {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (path.is_dir() or path.name.lower().endswith(".zip")):
            continue
        sid = student_id(path)
        safe = safe_name(sid)
        if safe in seen:
            raise GradingError(f"{seen[safe].name} and {path.name} would share the student id {safe!r}; rename one.")
        seen[safe] = path
        found.append((sid, path))
    if not found:
        raise GradingError(f"{folder} holds no hand-ins (.zip files or folders).")
    return found
