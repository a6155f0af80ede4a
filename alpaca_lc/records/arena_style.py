"""The style metadata Arena-Hard-Auto's scorer reads from an answer: its length in tokens (tiktoken's encoding for
gpt-4o, `o200k_base`) and its markdown counts (headers by level, list items, bold spans), counted with code blocks
removed, as the benchmark's `gen_answer.py` and `utils/add_markdown_info.py` compute them.

tiktoken downloads its encodings at run time. Offline, give the encoding file (`o200k_base.tiktoken`, from any
machine where tiktoken has run: its cache holds it under the name `O200K_CACHE_NAME`) with `--tiktoken-file`, or
point `$TIKTOKEN_CACHE_DIR` at a folder holding it under that name. Without it, answers get no `token_len`, and
style control, which needs it, refuses them.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alpaca_lc.errors import InputError

O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"  # tiktoken checks the file against it
O200K_CACHE_NAME = hashlib.sha1(O200K_URL.encode()).hexdigest()  # the name tiktoken's cache gives the file
_CODE = re.compile("```([^`]*)```")
_HEADERS = {f"h{n}": re.compile(rf"^#{{{n}}}\s", re.MULTILINE) for n in range(1, 7)}
_LISTS = {"ordered": re.compile(r"^\s*\d+\.\s", re.MULTILINE), "unordered": re.compile(r"^\s*[-*+]\s", re.MULTILINE)}
_BOLD = {"**": re.compile(r"\*\*[^*\n]+\*\*"), "__": re.compile(r"__[^_\n]+__")}
Encode = Callable[[str], int]


def without_code(answer: str) -> str:
    """The answer with its code blocks' contents removed, as the benchmark removes them: each block's text (between
    the fences) is deleted wherever it occurs, the fences stay."""
    for block in _CODE.findall(answer):
        answer = answer.replace(block, "")
    return answer


def markdown_counts(answer: str) -> dict[str, dict[str, int]]:
    """Headers by level, ordered and unordered list items, and bold spans, outside code blocks."""
    text = without_code(answer)
    return {
        "header_count": {level: len(p.findall(text)) for level, p in _HEADERS.items()},
        "list_count": {kind: len(p.findall(text)) for kind, p in _LISTS.items()},
        "bold_count": {mark: len(p.findall(text)) for mark, p in _BOLD.items()},
    }


def style_metadata(answer: str, token_length: Encode) -> dict[str, Any]:
    """The `metadata` of an answer in the benchmark's answer format."""
    return {"token_len": token_length(answer)} | markdown_counts(answer)


def gpt4o_tokens(tiktoken_file: Path | None = None, timeout: float = 20.0) -> Encode:
    """The token count of tiktoken's encoding for gpt-4o, from `tiktoken_file` or tiktoken's cache (downloaded
    there when online); an error that says how to give the file when it cannot be had within `timeout` seconds."""
    if tiktoken_file is not None:
        return _from_file(tiktoken_file, timeout)
    found = _load(timeout)
    if found is None:
        raise InputError(f"tiktoken's encoding for gpt-4o (o200k_base) is not available (offline?): give its file with "
                         f"--tiktoken-file, or put it in $TIKTOKEN_CACHE_DIR named {O200K_CACHE_NAME}")  # fmt: skip
    return found


def _from_file(path: Path, timeout: float) -> Encode:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=path) from None
    if digest != O200K_SHA256:
        raise InputError("not tiktoken's o200k_base encoding file (its sha256 differs)", path=path)
    with tempfile.TemporaryDirectory() as cache:  # tiktoken's own cache, holding only this file
        (Path(cache) / O200K_CACHE_NAME).symlink_to(path.resolve())
        found = _load(timeout, cache)
    if found is None:
        raise InputError("tiktoken could not load this encoding file", path=path)
    return found


def _load(timeout: float, cache: str | None = None) -> Encode | None:
    """tiktoken's gpt-4o encoding within `timeout` seconds (its download retries for long when offline)."""
    found: list[Encode] = []

    def load() -> None:
        import tiktoken

        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        try:
            if cache is not None:
                os.environ["TIKTOKEN_CACHE_DIR"] = cache
            encoding = tiktoken.encoding_for_model("gpt-4o")
            found.append(lambda text: len(encoding.encode(text, disallowed_special=())))
        except Exception:
            return
        finally:
            if cache is not None and saved is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            elif cache is not None and saved is not None:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved

    thread = threading.Thread(target=load, name="tiktoken-gpt-4o", daemon=True)
    thread.start()
    thread.join(timeout)
    return found[0] if found else None
