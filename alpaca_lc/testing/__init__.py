"""Test doubles at the edge: a local OpenAI-compatible HTTP server for judges and generators.

May import: nothing of alpaca_lc (it stands in for the outside world).
"""
