"""Records: the files the stages exchange, and their types.

AlpacaEval-compatible annotations, model outputs, the eval set, calibrations, subsets and judge bridges as
files; JSON and arrow reading; the judge identity (`Instrument`). Every stage reads and writes through here.

May import: `stats`, `errors`. Nothing of the stages.
"""
