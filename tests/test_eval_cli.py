"""`physics-llm eval` and `physics-llm gif` as real subprocesses: a tiny dataset end to end, bad input."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from physics_llm.gifs import read_video
from physics_llm.sim.generate import random_scene

ROOT = Path(__file__).parents[1]


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "physics_llm.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "ds"
    r = cli("data", "generate", "--config", "configs/data/tiny.yaml", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def test_eval_end_to_end_on_a_tiny_dataset(dataset, tmp_path):
    out = tmp_path / "r1"
    r = cli("eval", "--model", "oracle", "--data", dataset, "--split", "test", "--suite", "in_dist",
            "--suite", "ood:count_low", "--scenes-per-suite", "2", "--windows", "5", "--horizon", "10",
            "--gifs", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    with open(out / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    value = {(x["model"], x["suite"], x["mode"], x["horizon"], x["metric"]): float(x["value"]) for x in rows}
    # The stored (quantised) truth is handed to the oracle, so it is exact on the dataset too.
    assert value[("oracle", "in_dist", "single", "1", "pos_rmse")] == 0.0
    assert value[("oracle", "in_dist", "rollout", "10", "pos_rmse")] == 0.0
    assert value[("baseline:constvel", "in_dist", "single", "1", "pos_rmse")] < 1.0
    assert {x["suite"] for x in rows} == {"in_dist", "ood:count_low"}
    text = (out / "report.md").read_text()
    assert "## ood:count_low (2 scenes)" in text and "`baseline:ballistic`" in text
    assert len(list(out.glob("*.gif"))) == 4
    assert not list(tmp_path.glob(".r1.*"))  # no temp directory left behind

    # An existing report is refused without --force, replaced with it.
    again = cli("eval", "--data", dataset, "--scenes-per-suite", "1", "--horizon", "5", "--gifs", "0",
                "--set", "plots=false", "--out", out)
    assert again.returncode == 2 and "--force" in again.stderr
    forced = cli("eval", "--data", dataset, "--scenes-per-suite", "1", "--horizon", "5", "--gifs", "0",
                 "--set", "plots=false", "--out", out, "--force")
    assert forced.returncode == 0, forced.stderr
    assert not list(out.glob("*.gif")) and not list(out.glob("*.png"))


def test_gif_command(tmp_path):
    scene_file = tmp_path / "s.json"
    scene_file.write_text(random_scene(5, stage=1).to_json())
    out = tmp_path / "sub" / "cmp.gif"
    r = cli("gif", "--model", "baseline:constvel", "--scene", scene_file, "--start", "4", "--horizon", "8",
            "--context", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    assert read_video(out).shape[0] == 2 + 8


def _scenes_file(tmp_path, lines):
    p = tmp_path / "scenes.jsonl"
    p.write_text("\n".join(lines) + ("\n" if lines else ""))
    return p


BAD_SCENE = json.dumps({"objects": [{"shape": "circle", "radius": -2, "material": "wood", "position": [50, 50]}]})


@pytest.mark.parametrize("case, expect", [
    ("unknown_model", "unknown model spec"),
    ("missing_checkpoint", "no_such_checkpoint"),
    ("empty_scenes", "no scenes"),
    ("invalid_scene", "line 2"),
    ("unknown_suite", "ood:zero_gravity"),
    ("unknown_key", "unknown key"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, case, expect):
    good = random_scene(3, stage=1).to_json()
    args = {
        "unknown_model": lambda: ["--model", "magic:thing"],
        "missing_checkpoint": lambda: ["--model", f"gpt:{tmp_path / 'no_such_checkpoint'}"],
        "empty_scenes": lambda: ["--scenes", _scenes_file(tmp_path, [])],
        "invalid_scene": lambda: ["--scenes", _scenes_file(tmp_path, [good, BAD_SCENE])],
        "unknown_suite": lambda: ["--suite", "ood:moon"],
        "unknown_key": lambda: ["--set", "horizn=5"],
    }[case]()
    out = tmp_path / "report"
    r = cli("eval", *args, "--scenes-per-suite", "1", "--out", out)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".report*"))
