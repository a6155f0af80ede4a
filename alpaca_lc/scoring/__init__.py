"""Scoring: judged rows in, leaderboard rows out (raw and LC win rates, screening flags, subset estimates,
judge bridges), plus calibration and subset fits and the parse cache of annotation files.

May import: `records`, `stats`, `config`, `errors`. Never a judge or a client: scoring pays for nothing.
"""
