"""A fuzzer for every input quant-opt reads: model files, calibration configs, `.bin` inputs and textual IR.

`formats` says how to mutate and run each kind of input, `campaign` runs cases in worker processes with a
time and memory limit and counts the outcomes. `test_fuzz_short.py` is a short run in the test suite,
`scripts/fuzz.py` the long one.
"""
