"""The report files from a real (small) evaluation: every model and suite present, CSV format, GIF size."""

import csv
import inspect
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
import yaml

from physics_llm.config import load_config
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.harness import evaluate
from physics_llm.eval.report import markdown_table, write_report
from physics_llm.gifs import read_video, write_comparison_gif

MODELS = ["oracle", "baseline:copy", "baseline:constvel", "baseline:ballistic"]
SUITES = ["in_dist", "ood:zero_gravity"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    cfg = EvalConfig(models=["oracle"], suites=SUITES, scenes_per_suite=2, windows=4, horizon=12, gifs=1)
    res = evaluate(cfg, out, log=lambda msg: None)
    write_report(res, cfg, out)
    return out, res


def test_report_has_every_model_and_suite(report):
    out, res = report
    assert res.models == MODELS  # the user's model first, then the baselines
    text = (out / "report.md").read_text()
    for m in MODELS:
        assert f"`{m}`" in text
    for s in SUITES:
        assert f"## {s} (2 scenes)" in text
        assert f"horizon_{s.replace(':', '_')}.png" in text
    for name in ("config.yaml", "metrics.csv"):
        assert f"]({name})" in text
    assert (out / "horizon_in_dist.png").stat().st_size > 0
    assert (out / "conservation_ood_zero_gravity.png").stat().st_size > 0
    assert yaml.safe_load((out / "config.yaml").read_text())["horizon"] == 12


def test_metrics_csv_is_long_format(report):
    out, _ = report
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["model", "suite", "mode", "horizon", "metric", "value"]
    seen = {(r["model"], r["suite"], r["mode"]) for r in rows}
    assert seen == {(m, s, mode) for m in MODELS for s in SUITES for mode in ("single", "rollout")}
    got = {(r["model"], r["suite"], r["mode"], int(r["horizon"]), r["metric"]): float(r["value"]) for r in rows}
    for s in SUITES:
        assert got[("oracle", s, "single", 1, "pos_rmse")] == 0.0
        assert got[("oracle", s, "rollout", 12, "pos_rmse")] == 0.0
        assert got[("baseline:constvel", s, "single", 1, "pos_rmse")] < 1.0
        for h in (1, 5, 10, 12):
            assert ("baseline:copy", s, "rollout", h, "pos_rmse") in got
    metrics = {r["metric"] for r in rows}
    assert {"pos_rmse", "vel_rmse", "angle_rmse", "pos_rmse_contact", "pos_rmse_free", "parse_rate",
            "energy_rel_err", "momentum_rel_err", "sec_per_frame", "vel_median", "vel_p90", "vel_p99",
            "vel_rmse_onset", "pos_rmse_onset", "divergence_step"} <= metrics


def test_gif_has_the_rollout_frames_and_three_panels(report):
    out, res = report
    assert len(res.gifs) == len(MODELS)  # gifs=1: one per model, from the first suite
    scale = inspect.signature(write_comparison_gif).parameters["scale"].default
    frames = read_video(out / res.gifs[0][3])  # (frames, H, W, 3)
    assert frames.shape[0] == 3 + 12  # context + horizon
    assert frames.shape[2] == 3 * round(800 * scale)
    assert (out / res.gifs[0][3]).stat().st_size < 2_000_000


def test_best_value_is_bold_and_oracle_is_not_ranked():
    df = pd.DataFrame({"pos_rmse": [0.0, 2.0, 1.0], "parse_rate": [1.0, 0.5, 0.9]},
                      index=pd.Index(["oracle", "a", "b"], name="model"))
    lines = markdown_table(df).splitlines()
    assert lines[2] == "| `oracle` | 0 | 1 |"
    assert lines[3] == "| `a` | 2 | 0.5 |"
    assert lines[4] == "| `b` | **1** | **0.9** |"


def test_default_yaml_equals_the_dataclass_defaults():
    import yaml

    path = Path(__file__).parents[1] / "configs/eval/default.yaml"
    assert list(yaml.safe_load(path.read_text())) == [f.name for f in fields(EvalConfig)]  # every key, in order
    from_yaml = load_config(EvalConfig, path)
    defaults = EvalConfig()
    assert {f.name: getattr(from_yaml, f.name) for f in fields(EvalConfig)} == \
        {f.name: getattr(defaults, f.name) for f in fields(EvalConfig)}


def test_same_config_gives_the_same_numbers(tmp_path):
    cfg = EvalConfig(suites=["ood:count_low"], scenes_per_suite=2, windows=4, horizon=8, gifs=0, plots=False)
    a, b = (evaluate(cfg, tmp_path, log=lambda msg: None).rows for _ in range(2))
    a, b = ([r for r in rows if r[4] != "sec_per_frame"] for rows in (a, b))  # timings differ run to run
    assert a == b and len(a) > 50
