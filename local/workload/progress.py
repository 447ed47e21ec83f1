"""A plain-text progress bar on stderr while the queue drains (no dependency).

On a terminal the line redraws in place; otherwise (CI logs, pipes) it prints a full line every few
seconds instead of carriage-return noise.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 30


def render(done: int, total: int, elapsed_s: float, extra: str = "") -> str:
    """``[#######.......] 1234/3000  41%  12.3s  extra``."""
    fraction = 0.0 if total <= 0 else min(1.0, done / total)
    filled = int(WIDTH * fraction)
    bar = "#" * filled + "." * (WIDTH - filled)
    return f"[{bar}] {done}/{total} {fraction * 100:3.0f}%  {elapsed_s:5.1f}s  {extra}".rstrip()


class Progress:
    """Redraws `render(*status())` on `stream` every `interval_s` until stopped."""

    def __init__(
        self,
        status: Callable[[], tuple[int, int, str]],
        stream: TextIO | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.status = status
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.25 if self.tty else 5.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="progress")
        self._thread.start()

    def stop(self) -> None:
        """Draw a final line and end it with a newline."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self._draw(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._draw()

    def _draw(self, final: bool = False) -> None:
        try:
            done, total, extra = self.status()
        except Exception:  # a status read racing shutdown must not kill the bar
            return
        line = render(done, total, time.monotonic() - self._started, extra)
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
