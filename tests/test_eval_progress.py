"""evaluate()'s optional progress callback: scenes done of total, and the same report with it or without."""

from dataclasses import replace

import numpy as np

from physics_llm.eval.config import EvalConfig
from physics_llm.eval.harness import EvalProgress, evaluate
from physics_llm.eval.report import write_report
from physics_llm.sim.generate import random_scene

# 3 scenes per suite in batches of 2: a rollout batch of 2 scenes, then one of 1
CFG = dict(models=["oracle"], suites=["in_dist", "ood:count_low"], scenes_per_suite=3, windows=2, horizon=6,
           rollout_batch=2, gifs=0, plots=False)


def _no_timings(rows):
    """The rows without timings, values as text (so that NaN equals NaN)."""
    return [(*r[:5], repr(r[5])) for r in rows if r[4] != "sec_per_frame"]


def _report_without_timings(text: str) -> list[str]:
    """report.md's lines, the sec_per_frame column cut out of every table that has one."""
    out, col = [], None
    for ln in text.splitlines():
        cells = ln.split("|")
        if ln.startswith("| model |"):
            names = [c.strip() for c in cells]
            col = names.index("sec_per_frame") if "sec_per_frame" in names else None
        elif not ln.startswith("|"):
            col = None
        if col is not None and ln.startswith("|"):
            ln = "|".join(cells[:col] + cells[col + 1:])
        out.append(ln)
    return out


def test_progress_counts_the_scenes_of_every_model_and_suite_and_changes_no_report_file(tmp_path):
    events: list[EvalProgress] = []
    scenes = tmp_path / "short.jsonl"  # in_dist: 3 scenes of 20 frames (quick to simulate)
    scenes.write_text("".join(replace(random_scene(s), frames=20).to_json() + "\n" for s in range(3)))
    cfg = EvalConfig(**CFG, scenes=str(scenes))
    results = []
    for name, cb in (("a", events.append), ("b", None)):
        (tmp_path / name).mkdir()
        results.append(evaluate(cfg, tmp_path / name, log=lambda msg: None, progress=cb))
        write_report(results[-1], cfg, tmp_path / name)
    with_cb, without = results
    assert _no_timings(with_cb.rows) == _no_timings(without.rows) and len(with_cb.rows) > 50
    assert with_cb.curves.keys() == without.curves.keys()
    assert all(np.array_equal(with_cb.curves[k], without.curves[k]) for k in with_cb.curves)

    total = 4 * 2 * 3  # (oracle + 3 baselines) x 2 suites x 3 scenes
    assert {e.total for e in events} == {total}
    assert events[0].phase == "start" and events[0].done == 0
    assert events[-1].phase == "done" and events[-1].done == total
    done = [e.done for e in events]
    assert done == sorted(done)  # never goes back
    # every (suite, model) run reports single-step scenes 1..3, rollout steps of both batches, scored scenes 2, 3
    for suite in CFG["suites"]:
        for model in with_cb.models:
            mine = [e for e in events if (e.suite, e.model) == (suite, model)]
            assert [e.scenes for e in mine if e.phase == "single"] == [1, 2, 3]
            steps = [(e.scenes, e.batch, e.step) for e in mine if e.phase == "rollout" and e.steps]
            assert steps == [(0, 2, k) for k in range(1, 7)] + [(2, 1, k) for k in range(1, 7)]
            assert [e.scenes for e in mine if e.phase == "rollout" and not e.steps] == [2, 3]
    assert sum(e.phase == "simulate" for e in events) == 2
    line = next(e for e in events if e.phase == "rollout" and e.steps and e.step == 4).line()
    assert line.startswith("progress: ") and "/24 scenes (" in line and "step 4/6" in line, line
    read = {f: [(tmp_path / d / f).read_text() for d in "ab"] for f in ("report.md", "metrics.csv", "config.yaml")}
    assert read["config.yaml"][0] == read["config.yaml"][1]
    a, b = ([ln for ln in x.splitlines() if ",sec_per_frame," not in ln] for x in read["metrics.csv"])
    assert a == b and len(a) > 50
    a, b = (_report_without_timings(x) for x in read["report.md"])
    assert a == b and len(a) > 20
