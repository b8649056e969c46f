"""A private, quiet Jupyter kernel for one report: nothing left in /tmp, nothing printed on the terminal.

papermill's default kernel listens on TCP ports of localhost, writes its connection file (ports and the
message-signing key) with ``mkstemp`` into the system temporary folder, and inherits the terminal: every
run printed ipykernel's "Kernel is running over TCP without encryption" warning, and a "KeyboardInterrupt
caught in kernel" line whenever the shutdown's interrupt reached a busy kernel. A killed run left the
connection file behind, and nbclient's own signal handlers replaced the caller's for good.

:func:`private_kernel` fixes the causes rather than filtering the text: the kernel talks over IPC sockets
(Unix domain sockets readable only by this user) inside a fresh private folder that also holds its
connection file and its console log; the folder is removed however the report ends (a still-running kernel
is killed first); the caller's SIGINT/SIGTERM handlers are restored afterwards. Real kernel failures are
not hidden: nbclient still raises them, and the kernel's console log is written to this module's logger
at ERROR when the block fails.
"""

from __future__ import annotations

import logging
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

log = logging.getLogger(__name__)
#: Prefix of the private folder of a report's kernel (in the system temporary folder).
KERNEL_DIR_PREFIX = "jdl-kernel-"
#: Last characters of the kernel's console log written to the log when a report fails.
_LOG_TAIL = 4000
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _manager_class(folder: Path, started: list[AsyncKernelManager]) -> type[AsyncKernelManager]:
    """An AsyncKernelManager whose kernel lives in ``folder``: IPC sockets, connection file, console log."""

    class PrivateKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(folder / "kernel"))
            kwargs.setdefault("connection_file", str(folder / "kernel.json"))
            super().__init__(**kwargs)
            started.append(self)

        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            with (folder / "kernel.log").open("ab") as console, _signals_deferred():
                kw.setdefault("stdout", console)
                kw.setdefault("stderr", console)
                await self._async_start_kernel(**kw)

    return PrivateKernelManager


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while the kernel process is launched, then deliver them.

    A signal between the kernel's fork and the manager recording its process would leave a kernel nobody
    can stop, which then rewrites its connection file into the removed folder.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: caught.append(signum)) for sig in _SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def private_kernel() -> Iterator[type[AsyncKernelManager]]:
    """Yield a kernel manager class for papermill (``kernel_manager_class=``) whose kernel is private.

    Yields
    ------
    type
        An ``AsyncKernelManager`` subclass; its kernels use IPC sockets in a private folder that is
        deleted on exit, after killing any kernel still alive (e.g. when SIGTERM interrupted the report).
    """
    folder = Path(tempfile.mkdtemp(prefix=KERNEL_DIR_PREFIX))
    started: list[AsyncKernelManager] = []
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in _SIGNALS} if main else {}
    if handlers.get(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)  # so that the cleanup below runs
    try:
        yield _manager_class(folder, started)
    except Exception:
        console = folder / "kernel.log"
        if console.exists():
            tail = console.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL:].strip()
            if tail:
                log.error("report kernel console (last lines):\n%s", tail)
        raise
    finally:
        for manager in started:
            try:
                if manager.has_kernel:
                    run_sync(manager.shutdown_kernel)(now=True)
            except Exception as exc:  # the folder is removed below whatever happened to the kernel
                log.warning("could not stop the report kernel (%s)", type(exc).__name__)
        shutil.rmtree(folder, ignore_errors=True)
        for sig, handler in handlers.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


__all__ = ["KERNEL_DIR_PREFIX", "private_kernel"]
