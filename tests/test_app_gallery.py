"""The gallery on a report made by a real tiny eval; an eval started from the jobs screen reaches the gallery;
MP4 rollouts (our own writer) are listed and play frame by frame; a damaged MP4 is reported, not a crash."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app import widgets as W
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


# ---------------------------------------------------------------- MP4 videos

MP4_FPS = 12


def moving_scene():
    """A 402 x 302 world (a 202 x 152 MP4 at scale 0.5, drawn unscaled in the gallery) with a circle moving
    fast enough that every frame differs from the one before."""
    from physics_llm.sim.scene import Scene, SceneObject

    objs = [SceneObject(shape="circle", radius=20.0, material="rubber", position=(100.0, 150.0),
                        velocity=(300.0, 0.0)),
            SceneObject(shape="box", size=(40.0, 40.0), material="wood", position=(300.0, 200.0))]
    return Scene(width=402.0, height=302.0, objects=objs, gravity=(0.0, 0.0), frames=6)


def video_report(tmp_path) -> Path:
    """A report directory holding report.md, a GIF and an MP4 of the same 6-frame rollout (physics_llm/gifs.py)."""
    from physics_llm.gifs import write_trajectory_gif
    from physics_llm.sim.simulate import simulate

    scene = moving_scene()
    traj = simulate(scene, frames=6).traj
    out = tmp_path / "reports" / "video"
    out.mkdir(parents=True)
    (out / "report.md").write_text("# Evaluation report\n")
    write_trajectory_gif(scene, traj, out / "rollout.gif", fps=MP4_FPS, scale=0.5)
    write_trajectory_gif(scene, traj, out / "rollout.mp4", fps=MP4_FPS, scale=0.5)
    return out


def pixels(surface) -> np.ndarray:
    import pygame

    return pygame.surfarray.array3d(surface).transpose(1, 0, 2)  # (H, W, 3), as read_video gives


def labels(g, screen, monkeypatch) -> list[str]:
    """The strings the gallery draws with widgets.text."""
    seen: list[str] = []
    real = W.text

    def spy(surface, s, *args, **kwargs):
        seen.append(s)
        return real(surface, s, *args, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(W, "text", spy)
        g.draw(screen)
    return seen


def test_an_mp4_is_listed_and_plays_every_frame_for_1_over_fps_then_wraps(app, tmp_path, monkeypatch):
    pytest.importorskip("imageio_ffmpeg")
    from physics_llm.gifs import read_video

    shared, screen = app
    out = video_report(tmp_path)
    frames = read_video(out / "rollout.mp4")
    n = len(frames)
    assert n == 6  # an MP4 keeps every frame
    shared.cfg.gallery_dirs = []
    g = GalleryState(shared)
    g.startup({})
    assert g.current == out and [p.name for p in g.media_paths] == ["rollout.gif", "rollout.mp4"]
    g.show(1)
    video = g.media
    assert video is not None and not g.message, g.message
    assert (video.index, video.frames) == (0, n)
    assert video.duration == pytest.approx(1 / MP4_FPS)
    assert any(s.endswith(f"rollout.mp4, frame 1/{n}") for s in labels(g, screen, monkeypatch))
    assert video.surface().get_size() == (frames.shape[2], frames.shape[1])  # fits: drawn unscaled
    assert np.array_equal(pixels(video.surface()), frames[0])

    g.update(video.duration * 0.9)  # not yet a whole frame's time
    assert video.index == 0
    g.update(video.duration * 0.2)
    assert video.index == 1 and np.array_equal(pixels(video.surface()), frames[1])
    assert not np.array_equal(frames[1], frames[0])  # the circle moved: a new picture
    assert any(s.endswith(f"frame 2/{n}") for s in labels(g, screen, monkeypatch))
    for i in range(2, n):
        g.update(video.duration)
        assert video.index == i and np.array_equal(pixels(video.surface()), frames[i])
    g.update(video.duration)  # past the last frame: back to the first (a new reader)
    assert video.index == 0 and np.array_equal(pixels(video.surface()), frames[0])
    g.update(video.duration)
    assert video.index == 1 and np.array_equal(pixels(video.surface()), frames[1])
    g.show(0)  # the GIF: the video's reader is stopped
    assert video._reader is None and g.media.frames == n


def test_a_small_box_scales_the_mp4_down_to_fit(app, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    from app.states.gallery import Video  # app: pygame is set up

    video = Video(video_report(tmp_path) / "rollout.mp4", (101, 300))
    assert video.surface().get_size() == (101, 76)  # 202 x 152 halved
    video.close()


@pytest.mark.parametrize("damage", ["random", "half"])
def test_a_damaged_mp4_says_cannot_open_and_the_gallery_goes_on(app, tmp_path, damage):
    shared, screen = app
    out = tmp_path / "reports" / "bad"
    out.mkdir(parents=True)
    (out / "report.md").write_text("# Evaluation report\n")
    bad = out / "rollout.mp4"
    if damage == "random":
        bad.write_bytes(np.random.default_rng(0).bytes(64))
    else:  # a half-written file
        pytest.importorskip("imageio_ffmpeg")
        whole = (video_report(tmp_path / "src") / "rollout.mp4").read_bytes()
        bad.write_bytes(whole[: len(whole) // 2])
    shared.cfg.gallery_dirs = []
    g = GalleryState(shared)
    g.startup({})
    assert g.current == out and g.media_paths == [bad]
    assert g.media is None and g.message_is_error
    assert g.message.startswith(f"cannot open {bad}: ") and "\n" not in g.message  # one line, not ffmpeg's log
    g.update(0.5)
    g.draw(screen)
    g.show(0)  # again: the same message, still no crash
    assert g.media is None and g.message.startswith(f"cannot open {bad}")


def test_an_mp4_without_imageio_ffmpeg_says_how_to_install_it(app, tmp_path, monkeypatch):
    shared, screen = app
    out = tmp_path / "reports" / "v"
    out.mkdir(parents=True)
    (out / "report.md").write_text("# Evaluation report\n")
    (out / "a.mp4").write_bytes(b"\0" * 32)  # never read: the package is missing
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # `import imageio_ffmpeg` fails, as where it is missing
    shared.cfg.gallery_dirs = []
    g = GalleryState(shared)
    g.startup({})
    assert g.media is None
    assert g.message.startswith(f"cannot open {out / 'a.mp4'}: ")
    assert g.message.endswith("install imageio-ffmpeg (pip install imageio-ffmpeg)")
    g.draw(screen)
