"""The job runner on real `physics-llm` subprocesses: output captured, failures shown, cancel kills."""

import time
from pathlib import Path

from app.jobs import Job, JobRunner, _shown, next_dir
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import load_scene

ROOT = Path(__file__).parents[1]


def test_a_scene_random_job_runs_to_completion_and_its_output_is_captured(tmp_path):
    runner = JobRunner(cwd=str(ROOT))
    out = tmp_path / "s.json"
    t0 = time.monotonic()
    job = runner.start("scene", ["scene", "random", "--seed", "3", "--out", out], out=str(out))
    assert time.monotonic() - t0 < 0.5  # start() does not wait for the job
    assert job.wait(60) == 0 and job.status == "done" and job.returncode == 0
    assert any(line.startswith(f"wrote {out}") for line in job.tail(10))
    assert load_scene(out).to_dict() == random_scene(3).to_dict()
    assert runner.running() == []


def test_a_failing_command_shows_the_cli_error(tmp_path):
    job = Job("validate", ["scene", "validate", tmp_path / "missing.json"], cwd=str(ROOT))
    assert job.wait(60) == 2 and job.status == "failed"
    assert job.tail(5)[-1] == f"error: {tmp_path / 'missing.json'}: no such scene file", job.tail(5)


def test_cancel_kills_a_long_job(tmp_path):
    job = Job("generate", ["data", "generate", "--scenes", "100000", "--out", tmp_path / "big"], cwd=str(ROOT))
    time.sleep(1.0)
    assert job.status == "running"
    t0 = time.monotonic()
    job.cancel()
    job.wait(10)
    assert job.status == "cancelled" and job.returncode != 0
    assert time.monotonic() - t0 < 5


def test_carriage_returns_redraw_one_line():
    assert _shown("\r 10%|#  |\r 20%|## |") == " 20%|## |"
    assert _shown("\r 10%|#  |\r 20%|## |\r  ") == " 20%|## |"  # a trailing blank redraw shows the last bar
    assert _shown("plain  ") == "plain" and _shown("") == ""


def test_next_dir_takes_the_first_free_number(tmp_path):
    assert next_dir(tmp_path, "data") == str(tmp_path / "data-001")
    (tmp_path / "data-001").mkdir()
    (tmp_path / "data-003").mkdir()
    assert next_dir(tmp_path, "data") == str(tmp_path / "data-002")
