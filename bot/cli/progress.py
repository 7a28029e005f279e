"""A progress bar for long CLI work, drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """``bar(done, total)``; silent unless the stream is a TTY (pipes and logs stay clean)."""

    def __init__(self, label: str, stream: TextIO | None = None, *, force: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._label = label
        self.enabled = force or self._stream.isatty()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (total is None or done < total):
            return
        self._last = now
        if total:
            width = 30
            filled = int(width * min(done, total) / total)
            line = f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        else:
            line = f"\r{self._label} {done}"
        self._stream.write(line)
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self._stream.write("\n")
            self._stream.flush()
