"""The benchmark scenarios, one module each; each has `run(bench)`, adding its rows to the table.
`bench/run.py` runs them in order on one stack."""
