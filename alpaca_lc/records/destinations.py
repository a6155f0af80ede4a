"""Where a command writes, checked before it does any work: never over one of its inputs, and somewhere that can
be written. A command that judges for minutes and then cannot write its result, or writes it over the file it
read, has wasted the work or destroyed the input; both are refused with one line (exit 2) before anything is
read further or paid for. Writes stay atomic (`jsonio.write_atomic`), so nothing half-written is ever left.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from alpaca_lc.errors import InputError


def check_destinations(outputs: Iterable[Path | None], inputs: Iterable[Path | None]) -> None:
    """Refuse, before any work, an output that is one of the inputs or that cannot be written.

    Args:
        outputs: the files the command will write (None: not written this time).
        inputs: the files and folders it reads (None: not given); an output inside an input folder is fine
            unless it is one of the files the command reads there (pass those files too where known).
    """
    sources = [p for p in inputs if p is not None]
    for output in outputs:
        if output is None:
            continue
        for source in sources:
            if same_file(output, source):
                raise InputError(f"is also an input ({source}): writing it would destroy what is read; "
                                 "choose another output path", path=output)  # fmt: skip
        check_writable(output)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links and `..` as well)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_writable(path: Path) -> None:
    """Refuse a file that cannot be written: a folder, a path below a file, or a folder where nothing can be
    created (read-only, a special file system). Tried for real: a probe file is created and removed in the first
    existing folder on the way (nothing else is created)."""
    if path.is_dir():
        raise InputError("is a folder, not a file", path=path)
    folder = path.parent
    while not folder.exists():
        if folder.parent == folder:
            break
        folder = folder.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot write: {folder} is a file, not a folder", path=path)
    probe = folder / f".alpaca-lc-write-probe-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write in {folder}: {describe(exc)}", path=path) from None


def describe(exc: OSError) -> str:
    """An OS error as a few words, without the path it names (the message names the path once)."""
    return exc.strerror[0].lower() + exc.strerror[1:] if exc.strerror else str(exc)
