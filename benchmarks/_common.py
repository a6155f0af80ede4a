"""Helpers shared by the benchmarks: where the shared data is, and a timer."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "alpaca_eval_2"
T = TypeVar("T")


def cli() -> list[str]:
    """The command as a user types it: the `alpaca-lc` script installed beside this interpreter (`python -m
    alpaca_lc` where there is none)."""
    script = Path(sys.executable).with_name("alpaca-lc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "alpaca_lc"]


def require_shared() -> Path:
    """The shared data folder, or exit 0 with a clear reason when it is absent."""
    if not (SHARED / "annotations.parquet").exists():
        print(f"skipped: shared AlpacaEval 2.0 data not found at {SHARED}")
        sys.exit(0)
    return SHARED


def timed(func: Callable[[], T], repeat: int = 1) -> tuple[T, float]:
    """Run `func` `repeat` times; return its last result and the best wall time in seconds."""
    best = float("inf")
    result: T
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return result, best


@contextmanager
def section(title: str) -> Iterator[None]:
    """Print a section header."""
    print(f"\n## {title}")
    yield
