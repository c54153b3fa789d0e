"""Atomic file writing: a file appears under its final name only once it is complete."""

from __future__ import annotations

import contextlib
import contextvars
import csv
import errno
import io
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from othello.errors import OthelloError


class OutputPathError(OthelloError, OSError):
    """The output path cannot be written (its folder is missing, read-only, or it names a folder)."""


# The files the running command reads (set by ``protecting_inputs``): one per context, so that a thread or a task
# of another caller never sees them, and atomic_path refuses to replace any of them whatever writes it.
_INPUTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("othello_inputs", default=())


@contextlib.contextmanager
def protecting_inputs(inputs: Sequence[str | os.PathLike]) -> Iterator[None]:
    """Inside the block, no ``atomic_path`` write (every file this package writes) may replace one of ``inputs``
    (a folder stands for every file in it), whatever the path spelling: the last line of defence behind
    ``refuse_overwriting_inputs``, for outputs whose names only the writer knows (a folder's figures)."""
    token = _INPUTS.set(tuple(f for source in inputs for f in _files_of(Path(source))))
    try:
        yield
    finally:
        _INPUTS.reset(token)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds, else delete it.

    A symbolic link is followed: its target is replaced and the link kept. A path that is not a regular file
    (``/dev/stdout``, a pipe) is yielded itself and written in place, since nothing can be renamed over it.
    Temporaries that killed processes left beside ``path`` are removed first; a full disk becomes an
    ``OutputPathError`` saying so, the old file kept."""
    final = Path(path)
    if final.is_symlink():
        final = final.resolve()
    refuse_overwriting_inputs(final, _INPUTS.get())
    if final.exists() and not final.is_file() and not final.is_dir():
        yield final  # a device or a pipe: written directly
        return
    if final.is_dir():
        raise OutputPathError(f"cannot write {final}: it is a folder")
    folder = final.parent if str(final.parent) else Path(".")
    _writable_folder(
        folder, f"cannot write {final}: cannot create its folder", f"cannot write {final}: folder {folder} is"
    )
    sweep_temporaries(final)
    temporary = folder / f".{final.name}.tmp-{os.getpid()}"
    try:
        yield temporary
        # some writers (safetensors) create private files; give the result the usual permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, final)
    except Exception as error:  # h5py and safetensors report a full disk in their own exception types
        if getattr(error, "errno", None) == errno.ENOSPC or "no space left" in str(error).lower():
            raise OutputPathError(
                f"no space left on the disk of {folder}: {final} not written (any old one kept)"
            ) from None
        raise
    finally:
        if temporary.exists():
            temporary.unlink()


def sweep_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``path`` (``.NAME.tmp-PID``) whose process is gone (killed with kill -9, or a
    crash); returns what was removed. A live process's temporary is left alone."""
    final = Path(path)
    removed = []
    for candidate in final.parent.glob(f".{final.name}.tmp-*"):
        pid = candidate.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    """Write ``rows`` as CSV with the columns ``fields`` (other keys left out), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, buffer.getvalue())


def refuse_overwriting_inputs(
    outputs: str | os.PathLike | Sequence[str | os.PathLike], inputs: Sequence[str | os.PathLike]
) -> None:
    """Refuse, before any work, to write a file that is one of the inputs: ``outputs`` are the files a command
    will write (a model folder's files, a state dict and the config beside it), ``inputs`` what it reads (a
    folder stands for every file in it). Paths are compared as the files they name, whatever the spelling
    (``..``, links, a hard link to the same file)."""
    outs = [Path(outputs)] if isinstance(outputs, (str, os.PathLike)) else [Path(o) for o in outputs]
    read = [f for source in inputs for f in _files_of(Path(source))]
    for out in outs:
        if not out.exists():
            continue  # a file not there yet is none of the inputs
        for source in read:
            if source.resolve() == out.resolve() or _same_file(source, out):
                raise OutputPathError(
                    f"writing {out} would destroy the input {source} (the same file): choose another output path"
                )


def _files_of(source: Path) -> list[Path]:
    if source.is_dir():
        return [f for f in source.rglob("*") if f.is_file()]
    return [source] if source.exists() else []


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold ``path.lock`` while writing ``path`` in place (appending, adding labels, a training run's folder), so
    that a second writer is refused with a message naming the holder instead of both succeeding and one write
    being lost.

    The lock is the kernel's (``flock`` on an open descriptor), not the file's existence: taking it is one atomic
    step, and a holder that dies (kill -9) releases it with its descriptors, so nobody has to decide that a holder
    is dead and race another process to take over. The file only carries the holder's process id for messages."""
    lock = Path(f"{path}.lock")
    fd = _take_lock(lock, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # while still held: a writer waiting on this inode then sees it is gone and retries
        os.close(fd)


def _take_lock(lock: Path, path: str | os.PathLike) -> int:
    """An open descriptor of ``lock`` holding its exclusive ``flock``; refuse when another holds it."""
    import fcntl  # POSIX only; imported here so that the module still imports elsewhere

    for _ in range(100):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as error:
            raise OutputPathError(f"{path}: cannot take the lock {lock} ({error.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputPathError(
                f"{path} is being written by process {owner} (lock {lock}); wait for it to finish"
            ) from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:  # the file we locked is still the lock, not one its last holder removed as we opened it
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd
        os.close(fd)
    raise OutputPathError(f"{path}: cannot take the lock {lock}")


def check_output_folder(folder: str | os.PathLike) -> Path:
    """Make sure ``folder`` can be written (created if missing) before long work that ends by writing there."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputPathError(f"--out {folder}: a file, not a folder")
    _writable_folder(folder, f"--out {folder}: cannot create it", f"--out {folder}:")
    return folder


def _writable_folder(folder: Path, cannot_create: str, not_writable: str) -> None:
    """Create ``folder`` if missing and check it can be written; the messages say which path was asked for."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"{cannot_create} ({error.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"{not_writable} not writable")


def check_free_space(path: str | os.PathLike, needed: int) -> None:
    """Refuse before writing when the disk of ``path`` has less than ``needed`` bytes free (and a margin), rather
    than fail half-way: some writers (HDF5) cannot recover from a full disk."""
    import shutil

    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if free < needed * 1.2 + 1_000_000:
        raise OutputPathError(
            f"no space left on the disk of {folder}: writing {path} needs about {needed / 1e6:.1f} MB, "
            f"{free / 1e6:.1f} MB free"
        )
