"""A small progress bar on stderr for long file reads and writes."""

import sys
import time


class Progress:
    """Shows `description [=====>    ] 41% 123.4/300.0 MB 2.1 s` on stderr.

    On a terminal the line redraws in place at most ten times a second; when
    stderr is a file or pipe, one line is written per 25% so logs stay short.

    Args:
        total: the amount of work, in bytes.
        description: label printed before the bar.
        stream: where to write; stderr by default.
    """

    _WIDTH = 30

    def __init__(self, total, description="", stream=None):
        self.total = max(int(total), 1)
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._last_quarter = -1
        self.done = 0

    def update(self, done):
        """Record that `done` bytes (in all) are finished."""
        self.done = min(int(done), self.total)
        now = time.monotonic()
        if self._interactive:
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._write("\r" + self._line(now))
        else:
            quarter = 4 * self.done // self.total
            if quarter != self._last_quarter and quarter < 4:
                self._last_quarter = quarter
                self._write(self._line(now) + "\n")

    def close(self, completed=True):
        """Draw the final state: 100% when `completed`, else where it stopped."""
        if completed:
            self.done = self.total
        line = self._line(time.monotonic())
        self._write(("\r" + line + "\n") if self._interactive else (line + "\n"))

    def _line(self, now):
        fraction = self.done / self.total
        filled = int(fraction * self._WIDTH)
        bar = "=" * filled + (">" if filled < self._WIDTH else "") + " " * (
            self._WIDTH - filled - 1
        )
        return (
            f"{self.description} [{bar[: self._WIDTH]}] {100 * fraction:3.0f}% "
            f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB {now - self._start:.1f} s"
        )

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # A closed stream must not break a load.
            pass
