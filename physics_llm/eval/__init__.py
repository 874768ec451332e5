"""Evaluation: `physics-llm eval` and `physics-llm gif` (docs/DESIGN.md "Evaluation outputs").

config.py   EvalConfig (configs/eval/default.yaml)
suites.py   in_dist / ood:<kind> scenes and their ground truth
metrics.py  pure metric functions on state arrays
runner.py   single-step and rollout runs of one predictor over one suite
harness.py  evaluate(): every model over every suite
report.py   metrics.csv, report.md, config.yaml; plots.py the PNGs; outdir.py the atomic report dir
cli.py      the two commands
"""
