"""The job runner on real `physics-llm` subprocesses: output captured, failures shown, cancel kills."""

import time
from pathlib import Path

import pytest

from app.jobs import Job, JobRunner, _shown, next_dir
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import load_scene

ROOT = Path(__file__).parents[1]


def wait_until(condition, timeout: float, poll: float = 0.05):
    """condition()'s first truthy value, or its last value once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(poll)
    return value


def test_a_scene_random_job_runs_to_completion_and_its_output_is_captured(tmp_path):
    runner = JobRunner(cwd=str(ROOT))
    out = tmp_path / "s.json"
    job = runner.start("scene", ["scene", "random", "--seed", "3", "--out", out], out=str(out))
    assert job.returncode is None and job.status == "running"  # start() does not wait for the job
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
    assert wait_until(lambda: job.progress() is not None, 60) and job.status == "running"  # generating
    job.cancel()
    job.wait(5)  # TimeoutExpired if SIGTERM did not end it
    assert job.status == "cancelled" and job.returncode != 0


def test_carriage_returns_redraw_one_line():
    assert _shown("\r 10%|#  |\r 20%|## |") == " 20%|## |"
    assert _shown("\r 10%|#  |\r 20%|## |\r  ") == " 20%|## |"  # a trailing blank redraw shows the last bar
    assert _shown("plain  ") == "plain" and _shown("") == ""


def test_next_dir_takes_the_first_free_number(tmp_path):
    assert next_dir(tmp_path, "data") == str(tmp_path / "data-001")
    (tmp_path / "data-001").mkdir()
    (tmp_path / "data-003").mkdir()
    assert next_dir(tmp_path, "data") == str(tmp_path / "data-002")


def test_eval_progress_counts_suite_model_runs_of_its_plan(tmp_path):
    from app.jobs import eval_plan

    args = ["eval", "--suite", "in_dist", "--suite", "ood:count_low", "--scenes-per-suite", "2", "--windows", "2",
            "--horizon", "5", "--gifs", "0", "--out", tmp_path / "rep"]
    assert eval_plan([str(a) for a in args]) == (6, 2)  # 2 suites x the 3 baselines
    assert eval_plan(["eval", "--model", "oracle", "--suite", "ood:all", "--no-baselines"]) == (8, 0)


@pytest.mark.slow
def test_a_real_eval_job_reports_every_run(tmp_path):
    args = ["eval", "--suite", "in_dist", "--suite", "ood:count_low", "--scenes-per-suite", "2", "--windows", "2",
            "--horizon", "5", "--gifs", "0", "--out", tmp_path / "rep"]
    job = JobRunner(cwd=str(ROOT)).start("eval", args, out=str(tmp_path / "rep"))
    assert job.progress()[:2] == (0, 6)
    assert job.wait(120) == 0
    done, total, what = job.progress()
    assert (done, total) == (6, 6) and "about 12 of 12 scene rollouts" in what


def test_a_generate_job_shows_its_bar_progress(tmp_path):
    job = Job("generate", ["data", "generate", "--scenes", "100000", "--out", tmp_path / "big"], cwd=str(ROOT))
    try:
        assert wait_until(lambda: job.progress() is not None, 30)
        done, total, _ = job.progress()
        assert total == 100000 and 0 <= done < total
    finally:
        job.cancel()
        job.wait(10)


def test_a_cancelled_eval_leaves_nothing_behind(tmp_path):
    out = tmp_path / "reports" / "app-eval-001"
    job = Job("eval", ["eval", "--scenes-per-suite", "400", "--horizon", "100", "--gifs", "0", "--out", out],
              out=str(out), cwd=str(ROOT))
    assert wait_until(lambda: list(out.parent.glob(".app-eval-001.tmp-*")), 60), "the eval never made its temp folder"
    job.cancel()
    job.wait(15)
    assert job.status == "cancelled"
    assert list(out.parent.iterdir()) == [] and job.removed  # no report, no hidden temp folder


def test_job_history_is_kept_across_restarts(tmp_path):
    hist = tmp_path / "jobs" / "jobs.jsonl"
    runner = JobRunner(cwd=str(ROOT), history=hist)
    job = runner.start("validate", ["scene", "validate", tmp_path / "missing.json"])
    assert job.wait(60) == 2 and hist.exists()  # wait() joins the reader thread, which writes the history
    again = JobRunner(cwd=str(ROOT), history=hist)
    assert [j.name for j in again.all()] == ["validate"] and again.jobs == []
    past = again.history[0]
    assert past.status == "failed" and past.returncode == 2 and past.command == job.command
    assert past.tail(1) == [f"error: {tmp_path / 'missing.json'}: no such scene file"]
    hist.write_text(hist.read_text() + '{"name": "cut sh')  # a line cut short by a crash is skipped
    assert len(JobRunner(history=hist).history) == 1


def test_the_jobs_screen_shows_a_failed_jobs_full_error(app_shared, tmp_path):
    from app.states.jobs import JobsState, failure_message, wrap_chars

    shared, screen = app_shared
    long = tmp_path / ("x" * 150) / "missing.json"
    job = shared.jobs.start("validate", ["scene", "validate", long])
    assert job.wait(60) == 2
    st = JobsState(shared)
    st.startup({})
    st.update(0.0)
    msg = failure_message(job.tail(40))
    assert msg == f"error: {long}: no such scene file"  # the whole message, not cut
    assert "".join(wrap_chars(msg, shared.theme.mono, 300)) == msg
    st.draw(screen)


def test_an_eval_job_with_progress_counts_scenes_done_of_total(tmp_path):
    from dataclasses import replace

    scenes = tmp_path / "short.jsonl"  # 2 scenes of 12 frames: a quick eval
    scenes.write_text("".join(replace(random_scene(s), frames=12).to_json() + "\n" for s in (1, 2)))
    out = tmp_path / "rep"
    args = ["eval", "--model", "baseline:copy", "--model", "baseline:constvel", "--no-baselines", "--scenes",
            scenes, "--windows", "1", "--horizon", "4", "--gifs", "0", "--set", "plots=false", "--progress",
            "--out", out]
    job = JobRunner(cwd=str(ROOT)).start("eval", args, out=str(out))
    assert job.progress()[0] == 0 and "scenes" in job.progress()[2]  # before its first line: 0 of the plan
    assert job.wait(120) == 0, job.tail(10)
    assert job.progress() == (4, 4, "4 of 4 scenes  (done)")  # 2 models x 2 scenes
    assert not any(line.startswith("progress:") for line in job.tail(200))  # they feed the bar, not the log
    assert job.tail(1)[0].startswith(f"wrote {out}: report.md")


@pytest.mark.slow
def test_the_jobs_screens_eval_shows_scenes_done_of_total(app_shared):
    from app.states.jobs import JobsState

    shared, screen = app_shared
    st = JobsState(shared)
    st.startup({"model": "baseline:constvel"})
    st.eval_count.index, st.eval_horizon.index = 0, 0  # 2 scenes per suite, horizon 20
    args, out, problem = st.eval_args()
    assert problem is None and "--progress" in args
    job = st.start("eval")
    seen = set()

    def finished() -> bool:  # every state the bar passes through, drawn as the screen does
        seen.add(job.progress()[:2])
        st.update(0.0)
        st.draw(screen)
        return job.status != "running"

    assert wait_until(finished, 300), "the eval job did not end"
    assert job.wait(10) == 0, job.tail(10)
    assert job.progress()[:2] == (6, 6)  # constvel and the other 2 baselines x 2 scenes
    assert {total for _, total in seen} == {6} and all(0 <= done <= 6 for done, _ in seen)
    assert (Path(out) / "report.md").exists()
