"""Endpoint: the one OpenAI-compatible client every model call goes through.

Retries, pacing to token and request budgets, the adaptive in-flight limit, and call accounting.

May import: `errors`, `config`. Nothing of the stages.
"""
