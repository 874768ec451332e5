"""`physics-llm eval --save-rollouts` as a real subprocess: the .npz files load without pickle,
hold exactly the frames the metrics saw, and the metrics recomputed from them match metrics.csv."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physics_llm.eval import metrics as M
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate

ROOT = Path(__file__).parents[1]
MODELS = ["oracle", "baseline:constvel"]
SUITES = {"in_dist": "in_dist", "ood:count_low": "ood_count_low"}
MODEL_DIRS = {"oracle": "oracle", "baseline:constvel": "baseline_constvel"}
H, C = 12, 3


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("save")
    scenes = tmp / "scenes.jsonl"
    scenes.write_text("".join(random_scene(seed, stage=2).to_json() + "\n" for seed in (21, 22)))
    out = tmp / "r"
    args = ["eval", "--no-baselines", "--scenes", scenes, "--suite", "in_dist", "--suite", "ood:count_low",
            "--scenes-per-suite", "2", "--windows", "3", "--horizon", H, "--context", C, "--gifs", "0",
            "--set", "plots=false", "--save-rollouts", "--out", out]
    for m in MODELS:
        args += ["--model", m]
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "8 rollouts in rollouts/" in r.stdout
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    value = {(x["model"], x["suite"], x["mode"], int(x["horizon"]), x["metric"]): float(x["value"]) for x in rows}
    return out, value, scenes


def load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_layout_and_contents(report):
    out, _, scenes = report
    files = sorted(p.relative_to(out / "rollouts").as_posix() for p in (out / "rollouts").rglob("*.npz"))
    assert files == sorted(f"{s}/{m}/{i:04d}.npz" for s in SUITES.values() for m in MODEL_DIRS.values()
                           for i in range(2))
    with open(out / "rollouts" / "index.csv") as f:
        index = list(csv.DictReader(f))
    assert sorted(r["file"] for r in index) == files
    file_scenes = [Scene.from_json(line) for line in scenes.read_text().splitlines()]
    for i, scene in enumerate(file_scenes):
        for model, folder in MODEL_DIRS.items():
            z = load(out / "rollouts" / "in_dist" / folder / f"{i:04d}.npz")
            assert z["pred"].dtype == np.float32 and z["truth"].dtype == np.float32
            assert z["pred"].shape == z["truth"].shape == (H, scene.n, 6)
            assert z["parsed"].shape == (H, scene.n) and z["parsed"].all()
            assert int(z["start"]) == C and str(z["model"]) == model
            assert Scene.from_json(str(z["scene"])).to_json() == scene.to_json()
            # the truth is the simulated scene's frames after the context, bit for bit
            assert np.array_equal(z["truth"], simulate(scene).traj[C:C + H])
        # the oracle's prediction is the truth
        z = load(out / "rollouts" / "in_dist" / "oracle" / f"{i:04d}.npz")
        assert np.array_equal(z["pred"], z["truth"])


def test_metrics_recomputed_from_the_saved_arrays(report):
    out, value, _ = report
    for suite, sdir in SUITES.items():
        for model, mdir in MODEL_DIRS.items():
            saved = [load(p) for p in sorted((out / "rollouts" / sdir / mdir).glob("*.npz"))]
            assert len(saved) == 2
            # pooled position RMSE over scenes and objects at each reported step
            for h in (1, 5, 10, H):
                sq = np.concatenate([M.pos_sq_err(z["pred"][h - 1], z["truth"][h - 1]) for z in saved])
                assert float(np.sqrt(sq.mean())) == pytest.approx(
                    value[(model, suite, "rollout", h, "pos_rmse")], rel=1e-7, abs=1e-9), (model, suite, h)
            # plausibility over every object-frame of the saved predictions and truths
            scenes = [Scene.from_json(str(z["scene"])) for z in saved]
            n = sum(z["pred"].shape[0] * z["pred"].shape[1] for z in saved)
            for metric, fn, key in (("escaped_frac", M.escaped, "pred"), ("overlap_px", M.penetration, "pred"),
                                    ("truth_escaped_frac", M.escaped, "truth"),
                                    ("truth_overlap_px", M.penetration, "truth")):
                total = sum(float(fn(sc, z[key]).sum()) for sc, z in zip(scenes, saved))
                assert total / n == pytest.approx(value[(model, suite, "rollout", H, metric)], rel=1e-7, abs=1e-12)
    # the oracle's frames are the truth's
    for suite in SUITES:
        assert value[("oracle", suite, "rollout", H, "overlap_px")] == value[("oracle", suite, "rollout", H,
                                                                              "truth_overlap_px")]
        assert value[("oracle", suite, "rollout", H, "escaped_frac")] == 0.0


def test_report_shows_the_plausibility_metrics(report):
    out, _, _ = report
    text = (out / "report.md").read_text()
    assert "escaped_frac" in text and "overlap_px" in text
    assert text.count("Plausibility of the true frames") == len(SUITES)
    assert "save_rollouts: true" in (out / "config.yaml").read_text()


def test_without_the_flag_nothing_is_saved(tmp_path):
    scenes = tmp_path / "s.jsonl"
    scenes.write_text(random_scene(3, stage=1).to_json() + "\n")
    out = tmp_path / "r"
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "eval", "--no-baselines", "--model",
                        "baseline:constvel", "--scenes", str(scenes), "--horizon", "4", "--windows", "2",
                        "--gifs", "0", "--set", "plots=false", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (out / "rollouts").exists()
