"""Pipeline: the commands that run several stages in one go: `evaluate` (judge, then score), sweeps over
models (generate, judge, score), and fitting a judge bridge over a panel.

May import every stage; only `cli` imports it.
"""
