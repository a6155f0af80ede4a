"""The test server as a child process, for tests and benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any


class LocalServer:
    """A server process for tests and benchmarks; a context manager that always stops it."""

    def __init__(self, **settings: Any) -> None:
        args = [sys.executable, "-m", "alpaca_lc.testing.openai_server", "--stop-on-stdin-eof"]
        for key, value in settings.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"local OpenAI server did not start: {line!r}")
        self.url = line.split()[-1]

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (`.../v1`)."""
        return self.url + "/v1"

    def stats(self) -> dict[str, int]:
        """The server's counters."""
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return dict(json.load(resp))

    def configure(self, **settings: Any) -> None:
        """Change settings (and with reset_counts=True, zero the counters)."""
        request = urllib.request.Request(self.url + "/config", data=json.dumps(settings).encode(), method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        """Stop the server and wait for it."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
