"""MP4 output (imageio-ffmpeg) and the eval `video` key: frames and size read back, even sizes, same bytes,
every frame kept, the `gif` command's .mp4, and one-line errors (exit 2, nothing written) for a bad
`video` value and for MP4 without imageio-ffmpeg."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physics_llm.gifs import read_video, write_comparison_gif, write_trajectory_gif
from physics_llm.render import BACKGROUND
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene, SceneObject
from physics_llm.sim.simulate import simulate

ROOT = Path(__file__).parents[1]
NO_FFMPEG = "sys.modules['imageio_ffmpeg'] = None; "  # `import imageio_ffmpeg` fails: as on a machine without it


def cli(*args, pre: str = ""):
    """`physics-llm ARGS` in a subprocess; `pre` runs first (Python statements ending in '; ')."""
    code = f"import sys; {pre}from physics_llm.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def odd_scene(vx: float) -> Scene:
    """A 402 x 302 world (201 x 151 px at scale 0.5: both odd) with a circle moving at vx px/s."""
    objs = [SceneObject(shape="circle", radius=20.0, material="rubber", position=(100.0, 150.0), velocity=(vx, 0.0)),
            SceneObject(shape="box", size=(40.0, 40.0), material="wood", position=(300.0, 200.0))]
    return Scene(width=402.0, height=302.0, objects=objs, gravity=(0.0, 0.0), frames=8)


def scene_file(tmp_path) -> Path:
    path = tmp_path / "s.json"
    path.write_text(random_scene(5, stage=1).to_json())
    return path


def one_line_error(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_mp4_trajectory_decodes_to_every_frame_at_an_even_size_with_the_same_bytes(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    scene = odd_scene(vx=240.0)
    traj = simulate(scene, frames=8).traj
    a = write_trajectory_gif(scene, traj, tmp_path / "a.mp4", scale=0.5)
    b = write_trajectory_gif(scene, traj, tmp_path / "b.mp4", scale=0.5)
    assert a.read_bytes() == b.read_bytes()  # one encoder thread, bit-exact flags
    video = read_video(a)
    assert video.shape == (8, 152, 202, 3)  # 201 x 151 padded by one column and one row
    gif = read_video(write_trajectory_gif(scene, traj, tmp_path / "a.gif", scale=0.5))
    assert gif.shape == (8, 151, 201, 3)
    err = np.abs(video[:, :151, :201].astype(int) - gif)
    assert err.mean() < 3 and np.abs(video[:, 40, 170].astype(int) - BACKGROUND).max() <= 3  # flat areas near exact
    assert np.abs(video[:, 151].astype(int) - video[:, 150]).max() <= 3  # the padding repeats the last row
    still = simulate(odd_scene(vx=0.0), frames=8).traj  # nothing moves: a GIF merges the frames, an MP4 keeps them
    assert len(read_video(write_trajectory_gif(scene, still, tmp_path / "s.mp4", scale=0.5))) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "a.mp4", "b.mp4", "s.mp4"]  # no temp left


def test_mp4_comparison_is_padded_to_an_even_height(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    scene = random_scene(5)
    truth = simulate(scene, frames=5).traj
    gif = read_video(write_comparison_gif(scene, truth, truth + np.float32(2.0), tmp_path / "c.gif", scale=0.5))
    video = read_video(write_comparison_gif(scene, truth, truth + np.float32(2.0), tmp_path / "c.mp4", scale=0.5))
    h, w = gif.shape[1:3]
    assert h % 2 == 1 and video.shape == (5, h + 1, w, 3)
    assert np.abs(video[:, :h].astype(int) - gif).mean() < 3


def test_gif_command_writes_an_mp4(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "cmp.mp4"
    r = cli("gif", "--model", "baseline:constvel", "--scene", scene_file(tmp_path), "--horizon", "6",
            "--context", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    assert read_video(out).shape[0] == 2 + 6


@pytest.mark.parametrize("how", [("--video", "avi"), ("--set", "video=webm")])
def test_a_bad_video_value_is_one_line_and_exit_2(tmp_path, how):
    out = tmp_path / "r"
    line = one_line_error(cli("eval", "--model", "baseline:constvel", "--no-baselines", *how, "--out", out))
    assert "video must be one of gif, mp4" in line and how[1].split("=")[-1] in line
    assert not out.exists()


def test_mp4_without_imageio_ffmpeg_is_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "r"
    line = one_line_error(cli("eval", "--model", "baseline:constvel", "--no-baselines", "--video", "mp4",
                              "--out", out, pre=NO_FFMPEG))
    assert line.endswith("install imageio-ffmpeg (pip install imageio-ffmpeg)") and "video mp4" in line
    mp4 = tmp_path / "c.mp4"
    line = one_line_error(cli("gif", "--model", "baseline:constvel", "--scene", scene_file(tmp_path),
                              "--horizon", "3", "--out", mp4, pre=NO_FFMPEG))
    assert "pip install imageio-ffmpeg" in line and str(mp4) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_eval_video_mp4_writes_and_links_mp4s(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    scenes = tmp_path / "scenes.jsonl"
    scenes.write_text(random_scene(5, stage=1).to_json() + "\n")
    out = tmp_path / "r"
    r = cli("eval", "--model", "baseline:constvel", "--no-baselines", "--scenes", scenes, "--scenes-per-suite", "1",
            "--windows", "1", "--horizon", "4", "--gifs", "1", "--video", "mp4", "--set", "plots=false",
            "--out", out)
    assert r.returncode == 0, r.stderr
    assert not list(out.glob("*.gif"))
    [mp4] = out.glob("*.mp4")
    assert read_video(mp4).shape[0] == 3 + 4  # context + horizon
    text = (out / "report.md").read_text()
    assert "Rollout MP4 videos" in text and f"]({mp4.name})" in text
