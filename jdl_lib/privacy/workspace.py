"""Where personal data lives during a run, and how a report is released only when complete.

:class:`RunWorkspace` is an owner-only (0700) temporary directory for the upload and every person-level
file derived from it. It is deleted when the run ends, whatever the ending: normal exit, exception,
``SIGINT`` (Ctrl-C) or ``SIGTERM``. A process killed outright (``SIGKILL``, power loss) cannot clean up, so
every new workspace first sweeps leftovers whose owning process is gone.

:class:`StagedOutputs` collects a report in a staging directory next to ``outputs/<request id>/`` and
moves it into place with an atomic rename only when the caller says it is complete, after writing a
``COMPLETE`` marker listing every file and its SHA-256. A failed or interrupted run leaves no
``outputs/<request id>/`` that looks finished, and the next run of the same request starts cleanly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from jdl_lib.errors import DisclosureError

log = logging.getLogger(__name__)

WORKSPACE_ROOT_ENV = "JDL_WORKSPACE_ROOT"
COMPLETE_MARKER = "COMPLETE"
_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _check_request_id(request_id: str) -> str:
    """Request ids name directories: refuse anything that could escape them (``..``, slashes)."""
    if not _SAFE_ID.match(request_id) or ".." in request_id:
        raise DisclosureError(
            f"request id {request_id!r} cannot name an output folder: use 1-100 letters, digits, '_', '-' or "
            "'.', starting with a letter or digit and without '..'"
        )
    return request_id


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _sweep(parent: Path, prefix: str) -> list[str]:
    """Delete directories ``<prefix><pid>.<anything>`` in ``parent`` whose process has ended; return names."""
    removed = []
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    for entry in parent.glob(prefix + "*"):
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not _pid_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    if removed:
        log.warning("removed %d directory(ies) left by runs that were killed: %s", len(removed), removed)
    return removed


@contextmanager
def _cleanup_on_signals(cleanup: Callable[[], None]) -> Iterator[None]:
    """Run ``cleanup`` on SIGINT/SIGTERM before the previous handler; restore handlers on exit.

    After cleaning up, a callable previous handler is called (Python's default SIGINT handler raises
    KeyboardInterrupt; an outer workspace cleans itself), and a default handler becomes
    ``SystemExit(128 + signal)`` so that ``finally`` blocks still run. Handlers can only be installed
    from the main thread; elsewhere cleanup relies on normal exit and the next run's sweep.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in _HANDLED_SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        cleanup()
        before = previous[signum]
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_IGN:
            return
        raise SystemExit(128 + signum)

    for sig in _HANDLED_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def workspace_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Directory holding run workspaces: ``root``, ``$JDL_WORKSPACE_ROOT`` or ``<tmp>/jdl-workspaces``."""
    path = Path(root or os.environ.get(WORKSPACE_ROOT_ENV) or Path(tempfile.gettempdir()) / "jdl-workspaces")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class RunWorkspace:
    """An owner-only directory for one run's personal data, deleted however the run ends.

    Use as a context manager::

        with RunWorkspace("R-2024-001") as ws:
            upload = ws.file("upload.xlsx")
            ...

    On entry, leftovers of killed runs (whose process id no longer exists) are deleted first and listed
    in ``swept``; on exit ``deleted`` is True once the directory is gone (for the audit log).

    Parameters
    ----------
    request_id : str
        The request being run (letters, digits, ``_-.``); part of the directory name.
    root : path, optional
        Parent directory (default ``$JDL_WORKSPACE_ROOT`` or ``<tmp>/jdl-workspaces``).
    """

    def __init__(self, request_id: str, root: str | os.PathLike[str] | None = None) -> None:
        self.request_id = _check_request_id(request_id)
        self.root = workspace_root(root)
        self.path: Path | None = None
        self.swept: tuple[str, ...] = ()
        self.deleted = False
        self._signals: Iterator[None] | None = None

    def __enter__(self) -> RunWorkspace:
        self.swept = tuple(_sweep(self.root, "ws-"))
        self.path = Path(tempfile.mkdtemp(prefix=f"ws-{os.getpid()}.{self.request_id}.", dir=self.root))
        os.chmod(self.path, 0o700)
        self._signals = _cleanup_on_signals(self.cleanup)
        self._signals.__enter__()
        log.info("workspace opened for request %s", self.request_id)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.cleanup()
        finally:
            if self._signals is not None:
                self._signals.__exit__(None, None, None)
                self._signals = None

    def file(self, name: str) -> Path:
        """Path for a file called ``name`` inside the workspace (a plain name: no folders, no ``..``)."""
        if self.path is None:
            raise RuntimeError("RunWorkspace.file() called outside the `with` block")
        if not name or Path(name).name != name or name in (".", ".."):
            raise DisclosureError(
                f"workspace file name {name!r} must be a plain name without folders; pick a simple name"
            )
        return self.path / name

    def cleanup(self) -> None:
        """Delete the workspace and everything in it (idempotent); sets ``deleted``."""
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        self.deleted = self.path is not None and not self.path.exists()
        if self.deleted:
            log.info("workspace for request %s deleted", self.request_id)


@dataclass(frozen=True)
class ReleasedOutputs:
    """A report moved into place: its folder and the files listed in its ``COMPLETE`` marker."""

    request_id: str
    path: Path
    files: tuple[str, ...]


def _manifest(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != COMPLETE_MARKER)
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def is_complete(folder: str | os.PathLike[str]) -> bool:
    """True if ``folder`` holds a released report whose files all match its ``COMPLETE`` marker."""
    folder = Path(folder)
    marker = folder / COMPLETE_MARKER
    if not marker.is_file():
        return False
    try:
        listed = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError):
        return False
    return listed == _manifest(folder)


class StagedOutputs:
    """Build a report in a staging folder; release it to ``<outputs>/<request id>/`` only via :meth:`release`.

    Use as a context manager; write files under ``staged.path``, run the output scanner on them, then call
    :meth:`release`. Leaving the block without releasing (an error, Ctrl-C, SIGTERM) deletes the staging
    folder, so nothing half-written is ever marked complete. A killed run's staging folder is swept by the
    next run. Releasing replaces an earlier report of the same request.
    """

    def __init__(self, request_id: str, outputs: str | os.PathLike[str] = "outputs") -> None:
        self.request_id = _check_request_id(request_id)
        self.outputs = Path(outputs)
        self.path: Path | None = None
        self.released: ReleasedOutputs | None = None
        self._signals: Iterator[None] | None = None

    def __enter__(self) -> StagedOutputs:
        self.outputs.mkdir(parents=True, exist_ok=True)
        _sweep(self.outputs, ".staging-")
        _sweep(self.outputs, ".replaced-")
        self.path = Path(
            tempfile.mkdtemp(prefix=f".staging-{os.getpid()}.{self.request_id}.", dir=self.outputs)
        )
        self._signals = _cleanup_on_signals(self._discard)
        self._signals.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self._discard()
        finally:
            if self._signals is not None:
                self._signals.__exit__(None, None, None)
                self._signals = None

    def _discard(self) -> None:
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def release(self) -> ReleasedOutputs:
        """Write the ``COMPLETE`` marker and atomically move the staged report to ``<outputs>/<id>/``.

        Call only after every check (disclosure control, output scan) has passed. An earlier report of
        the same request is first renamed aside and deleted after the new one is in place.
        """
        if self.path is None or not self.path.exists():
            raise RuntimeError("StagedOutputs.release() called outside the `with` block or twice")
        files = _manifest(self.path)
        marker = self.path / COMPLETE_MARKER
        marker.write_text(
            json.dumps({"request_id": self.request_id, "files": files}, indent=1, sort_keys=True)
        )
        # Owner-only while staging (it is unchecked until now); readable like any report once released.
        os.chmod(self.path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        final = self.outputs / self.request_id
        old = None
        if final.exists():
            old = self.outputs / f".replaced-{os.getpid()}.{self.request_id}"
            os.rename(final, old)
        os.rename(self.path, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self.released = ReleasedOutputs(request_id=self.request_id, path=final, files=tuple(files))
        log.info("report for request %s released with %d file(s)", self.request_id, len(files))
        return self.released
