"""Saving a run without being cut short: Ctrl-C and SIGTERM are held while files are written."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

_HELD = (signal.SIGINT, signal.SIGTERM)


class HeldInterrupts:
    """Context manager: Ctrl-C (SIGINT) and SIGTERM that arrive inside it are noted in
    ``pending`` (and reported through ``log``) instead of interrupting the block.

    Outside the main thread signal handlers cannot be installed; the block then runs as
    it is (only the main thread receives signals anyway).
    """

    def __init__(self, log: Callable[[str], None] | None = None, message: str = ""):
        self.log, self.message = log, message
        self.pending = False
        self._previous: dict = {}

    def _note(self, signum, frame) -> None:
        del signum, frame
        self.pending = True
        if self.log is not None and self.message:
            self.log(self.message)

    def __enter__(self) -> HeldInterrupts:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._note) for s in _HELD}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
