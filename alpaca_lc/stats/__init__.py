"""Pure statistics: arrays in, numbers out (win rates, the GLM solver, LC specs, difficulty, item response
models, paired comparisons, bridge maps, correlation).

May import: nothing of alpaca_lc.
"""
