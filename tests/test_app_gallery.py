"""The gallery on a report made by a real tiny eval; an eval started from the jobs screen reaches the gallery."""

import subprocess
import sys
from pathlib import Path

import pytest

from app.control import Control
from app.states.gallery import GalleryState
from app.states.jobs import JobsState

ROOT = Path(__file__).parents[1]


@pytest.fixture
def app(app_shared):
    return app_shared  # tests/conftest.py


def test_gallery_shows_a_real_eval_report(app):
    shared, screen = app
    out = Path(shared.cfg.reports_dir) / "tiny"
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "eval", "--scenes-per-suite", "1", "--windows", "2",
                        "--horizon", "5", "--gifs", "1", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    shared.cfg.gallery_dirs = []
    g = GalleryState(shared)
    g.startup({})
    assert g.reports == [out] and g.current == out
    assert g.text[0] == "# Evaluation report"
    pngs = sorted(p.name for p in out.glob("*.png"))
    gifs = sorted(p.name for p in out.glob("*.gif"))
    assert pngs and gifs and [p.name for p in g.media_paths] == pngs + gifs
    g.show(len(pngs))  # the first GIF: 3 context + 5 predicted frames
    gif = g.media
    assert gif.frames == 8
    first = gif.surface().copy()
    for _ in range(3):
        g.update(gif.duration + 1e-3)  # one frame per update: each frame shows for its own duration
    assert gif.index == 3
    assert gif.surface().get_size() == first.get_size()
    assert gif.surface().get_view("2").raw != first.get_view("2").raw  # a new frame, not the same picture
    g.draw(screen)


def test_an_eval_job_from_the_jobs_screen_appears_in_the_gallery(app):
    shared, screen = app
    jobs = JobsState(shared)
    states = {"jobs": jobs, "gallery": GalleryState(shared)}
    control = Control(screen, shared, states, "jobs", fps=0)
    control.persist["model"] = "baseline:constvel"
    jobs.eval_count.index = jobs.eval_count.options.index("2")
    jobs.eval_horizon.index = jobs.eval_horizon.options.index("20")
    job = jobs.start("eval")
    assert job.args[:3] == ["eval", "--model", "baseline:constvel"] and "--scenes-per-suite" in job.args
    control.draw()  # the job list and its output draw while it runs
    assert job.wait(120) == 0, job.tail(20)
    control.update(0.0)  # the Control notices the end and tells the gallery which report to open
    assert "is in the gallery" in jobs.message
    control.flip_state("gallery")
    assert control.state.current == Path(job.out) and (Path(job.out) / "report.md").exists()
    control.draw()


def test_train_and_editor_scenes_need_their_inputs_first(app):
    shared, _ = app
    jobs = JobsState(shared)
    jobs.startup({})
    assert jobs.start("train") is None and "generate one first" in jobs.message
    jobs.eval_source.index = jobs.eval_source.options.index("editor scenes.jsonl")
    assert jobs.start("eval") is None and "scenes.jsonl" in jobs.message
    assert shared.jobs.jobs == []


def test_the_shipped_checkpoints_report_and_reports_under_runs_are_listed(app, tmp_path):
    from app.states.gallery import find_reports

    shared, screen = app
    runs = tmp_path / "runs"
    for d in (runs / "train-001" / "eval", runs / "a" / "b" / "rep", runs / ".hidden" / "x",
              runs / "r.tmp-12" / "x"):
        d.mkdir(parents=True)
        (d / "report.md").write_text("# Evaluation report\n")
    (runs / "train-001" / "eval" / "inner").mkdir()
    (runs / "train-001" / "eval" / "inner" / "report.md").write_text("x")  # inside a report: not listed
    assert sorted(find_reports([str(runs)])) == [runs / "a" / "b" / "rep", runs / "train-001" / "eval"]
    shipped = ROOT / "assets" / "checkpoints" / "gpt-small" / "eval"
    assert (shipped / "report.md").exists()
    shared.cfg.gallery_dirs = [str(ROOT / "assets" / "checkpoints"), str(runs)]
    g = GalleryState(shared)
    g.startup({})
    assert shipped in g.reports and runs / "train-001" / "eval" in g.reports and len(g.reports) >= 3
    g.open(shipped)
    assert g.text[0].startswith("#") and g.media_paths  # its plots and GIFs
    g.draw(screen)
