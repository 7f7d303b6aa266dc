"""Save slots: a private, per-run directory for the models the browser saves (``downloads://`` and ``http://``).

The directory is made with ``mkdtemp`` (mode 0700) when the server starts and removed when it
stops, or by ``remove_open_stores`` when a run is interrupted (its servers may never stop). Each
save gets a slot: a directory named by Python with a random part, reserved before the browser
saves, so nothing from outside can choose where files land.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

SLOT_KINDS = ("downloads", "uploads")
_open_roots: set[Path] = set()  # every open store's directory, for ``remove_open_stores``


def remove_open_stores() -> None:
    """Remove every open store's directory: an interrupted run leaves its browsers' threads unfinished, and with
    them their servers' ``close``."""
    for root in list(_open_roots):
        shutil.rmtree(root, ignore_errors=True)
        _open_roots.discard(root)


class SlotStore:
    """Slots for saved models inside one private temp directory."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._reserved: set[str] = set()

    @property
    def root(self) -> Path:
        if self._root is None:
            raise RuntimeError("the slot store is not open")
        return self._root

    def open(self) -> SlotStore:
        """Make the private directory; returns self."""
        self._root = Path(tempfile.mkdtemp(prefix="tfjs-parity-saved-"))
        _open_roots.add(self._root)
        return self

    def close(self) -> None:
        """Remove the directory and everything saved in it."""
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            _open_roots.discard(self._root)
        self._root = None
        self._reserved.clear()

    def reserve(self, kind: str) -> str:
        """A fresh slot name of ``kind`` (``downloads`` or ``uploads``) that one save may fill."""
        if kind not in SLOT_KINDS:
            raise ValueError(f"unknown slot kind {kind!r}; known: {', '.join(SLOT_KINDS)}")
        slot = f"{kind}-{secrets.token_hex(8)}"
        self._reserved.add(slot)
        return slot

    def claim(self, slot: str) -> Path | None:
        """The directory to fill for a reserved ``slot`` (each slot can be claimed once), else None."""
        if slot not in self._reserved:
            return None
        self._reserved.discard(slot)
        return self.root / slot

    def create(self, kind: str) -> tuple[str, Path]:
        """A fresh slot of ``kind`` filled by Python itself: its name and its (new, empty) directory."""
        slot = self.reserve(kind)
        self._reserved.discard(slot)
        directory = self.root / slot
        directory.mkdir()
        return slot, directory

    def directory(self, slot: str) -> Path:
        """Where ``slot``'s files are (once they have been saved)."""
        return self.root / slot

    def staging(self) -> Path:
        """A fresh private directory inside the store, for files not yet accepted."""
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
