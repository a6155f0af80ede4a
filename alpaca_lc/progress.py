"""Progress on stderr: a live tqdm bar on a terminal, a few plain lines (every ~10% or 30 s) in a log file."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

PLAIN_EVERY_SECONDS = 30.0
PLAIN_EVERY_SHARE = 0.10


class Progress:
    """Counts finished items of a long job, with a status (e.g. spend, pacing) shown beside the count.

    Args:
        total: items to do.
        desc: what they are ("judging", "generating").
        unit: one item ("pair", "answer").
        enabled: False for --no-progress.
        stream: where to write (default stderr); a terminal gets a bar, anything else plain lines.
    """

    def __init__(self, total: int, desc: str, unit: str, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream or sys.stderr
        self.enabled = enabled and total > 0
        self.done = 0
        self.status: dict[str, Any] = {}
        self._bar: tqdm[Any] | None = None
        self._start = self._last_line = time.monotonic()
        self._next_share = PLAIN_EVERY_SHARE
        if self.enabled and _is_terminal(self.stream):
            from tqdm import tqdm  # a terminal only: a log gets plain lines, and the import costs 0.1 s

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream)

    def update(self, n: int = 1, **status: Any) -> None:
        """`n` more items done; `status` replaces the shown fields it names."""
        self.done += n
        self.status.update(status)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            if status:
                self._bar.set_postfix(self.status, refresh=False)
            return
        now = time.monotonic()
        share = self.done / self.total
        if share >= self._next_share or now - self._last_line >= PLAIN_EVERY_SECONDS or self.done == self.total:
            self._line(now)
            while self._next_share <= share:
                self._next_share += PLAIN_EVERY_SHARE

    def _line(self, now: float) -> None:
        self._last_line = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        fields = "".join(f", {k} {v}" for k, v in self.status.items())
        print(f"{self.desc}: {self.done}/{self.total} {self.unit}s ({100 * self.done / self.total:.0f}%) in "
              f"{elapsed:.0f} s, {rate:.1f}/s{fields}", file=self.stream, flush=True)  # fmt: skip

    def close(self) -> None:
        """End the bar (a plain log gets a last line if the job stopped short)."""
        if self._bar is not None:
            self._bar.close()
        elif self.enabled and 0 < self.done < self.total:
            self._line(time.monotonic())


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
