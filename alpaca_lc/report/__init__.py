"""Leaderboard tables, correlation reports and their renderings (CSV, Markdown, JSON, HTML, plots).

May import: `scoring`, `records`, `stats`, `config`, `errors`.
"""
