"""The lab's private directory and secret key, shared by the differencing registry and the audit log.

The lab directory holds state that must outlive a run but never leave the lab: the secret key, the
differencing registry and the audit log. It belongs to the outputs it guards: ``<outputs>/.lab``
(git-ignored with the rest of ``outputs/``), created owner-only (0700), whatever the working directory.
A run refuses to start a new lab folder beside reports that are already released (:func:`open_lab`):
a fresh lab would have an empty registry, so deleting or moving the lab must not reset the guard.

The secret is 32 random bytes in ``secret.key``, created on first use with owner-only permissions (0600).
It salts every hash the lab keeps (HMAC-SHA256), so a stored hash of a national person id or of an upload
cannot be reversed by hashing candidate ids without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from jdl_lib.errors import DisclosureError

#: Name of the lab folder inside the outputs folder it guards.
LAB_FOLDER = ".lab"
_SECRET_FILE = "secret.key"
_COMPLETE = "COMPLETE"  # workspace.COMPLETE_MARKER (not imported: workspace is a sibling of equal rank)


def lab_dir(path: str | os.PathLike[str]) -> Path:
    """Return the lab directory ``path`` (absolute), creating it owner-only (0700) if needed."""
    directory = Path(path).resolve()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def open_lab(outputs: str | os.PathLike[str]) -> Path:
    """Return ``<outputs>/.lab`` with its secret; never start a new one beside released reports.

    Why: the differencing registry, the secret and the audit log guard the reports in ``outputs``. A new,
    empty lab next to reports already released (the lab folder deleted, moved or not restored from backup)
    would let a near-repeat of one of them through.

    Raises
    ------
    DisclosureError
        If ``outputs`` holds released reports but no lab secret.
    """
    outputs = Path(outputs).resolve()
    directory = outputs / LAB_FOLDER
    if not (directory / _SECRET_FILE).exists():
        released = sorted(p.parent.name for p in outputs.glob(f"*/{_COMPLETE}"))
        if released:
            raise DisclosureError(
                f"{outputs} holds {len(released)} released report(s) but no lab folder ({directory}); "
                "restore the lab folder from the lab's backup. A new one would not know which groups "
                "were released, so the differencing guard could be bypassed."
            )
    lab_secret(directory)
    return directory


def _require_owner_only(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise DisclosureError(
            f"the lab secret {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` "
            "so that only the lab's account can read it"
        )


def has_lab(directory: str | os.PathLike[str]) -> bool:
    """True if ``directory`` is a lab folder already in use (it holds the lab secret); creates nothing."""
    return (Path(directory) / _SECRET_FILE).is_file()


def lab_secret(directory: str | os.PathLike[str]) -> bytes:
    """Return the lab's secret key, creating it (0600, 32 random bytes) on first use.

    Why: hashes of national ids are only safe to keep if nobody outside the lab can recompute them.
    Creation uses ``O_EXCL`` so two runs starting together agree on one key.
    """
    path = lab_dir(directory) / _SECRET_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _require_owner_only(path)
        key = path.read_bytes()
        if len(key) != 32:
            raise DisclosureError(
                f"the lab secret {path} is damaged ({len(key)} bytes, expected 32); restore it from the "
                "lab's backup (deleting it makes earlier differencing records unusable)"
            ) from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return key


def keyed_hash(key: bytes, data: bytes | str) -> str:
    """HMAC-SHA256 of ``data`` under the lab key, as hex."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def keyed_file_hash(key: bytes, path: str | os.PathLike[str]) -> str:
    """HMAC-SHA256 of a file's bytes under the lab key (streamed), as hex: the upload's audit fingerprint."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()
