"""The annotation stage: an LLM judge compares baseline and model outputs; every judgment is cached.

Judges (AlpacaEval's own, read from its files, and ours), prompt rendering, answer parsing, the SQLite
judgment cache, the annotator, and the `annotate` and `cache` entry points.

May import: `records`, `endpoint`, `config`, `progress`, `errors`. Never `scoring`: judging knows no statistics.
"""
