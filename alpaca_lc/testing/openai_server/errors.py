"""Error answers in the shape OpenAI's API gives them."""

from __future__ import annotations

from typing import Any

from aiohttp import web


def error_body(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error(status: int, message: str, kind: str, code: str | None = None, headers: dict[str, str] | None = None,
          param: str | None = None) -> web.Response:  # fmt: skip
    """An error answer."""
    return web.json_response(error_body(message, kind, code, param), status=status, headers=headers)
