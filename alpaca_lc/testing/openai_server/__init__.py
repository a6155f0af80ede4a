"""A small OpenAI-compatible server on 127.0.0.1 (aiohttp) that behaves like the providers where it matters.

Answers `POST /v1/chat/completions` as a judge (a one-token answer `m` or `M` with top logprobs when asked for
logprobs, else its verdict in text) or as a generator (a deterministic text, which may think first), as an
ordinary model or as a reasoning model, after a set latency. Its parts, one behaviour each:

- `chat`: an ordinary model's answers; `thinking`: a generator that thinks (inline `<think>` or a separate field);
- `reasoning`: a reasoning model (the gpt-5 family, the o-series: no logprobs, `max_completion_tokens`, hidden
  reasoning tokens, an empty answer when they use up the limit);
- `faults`: 429 with Retry-After whatever the load, 500, hangs, malformed bodies, a web page instead of the API,
  models it does not serve; `max_in_flight` refuses what is beyond that many in progress (load);
- `budgets`: OpenAI-like token and request buckets with `x-ratelimit-*` headers, `insufficient_quota`;
- `batches`: the Files and Batches API over the same answers, with their own faults.

`GET /stats` returns counters (`successes` counts only well-formed answers, `tokens_billed` what admitted
requests were charged, `prompt_tokens`, `completion_tokens` and `reasoning_tokens` what the answers reported);
`POST /config` switches settings while it runs. It serves only loopback, and stops by itself when its parent
closes its stdin or after `--max-seconds`.

Run: python -m alpaca_lc.testing.openai_server --port 0 --latency-ms 200 [--rate-429 0.3 ...] (prints `listening
on http://127.0.0.1:PORT` once ready; `--help` lists every setting).
"""

from alpaca_lc.testing.openai_server.app import main, make_app
from alpaca_lc.testing.openai_server.chat import judge_p_first
from alpaca_lc.testing.openai_server.process import LocalServer
from alpaca_lc.testing.openai_server.settings import Settings

__all__ = ["LocalServer", "Settings", "judge_p_first", "main", "make_app"]
