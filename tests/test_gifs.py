"""GIF writers: frame counts, sizes, exact colours after palette mapping, round trip through imageio,
determinism, file size, CLI. (MP4 output: test_gifs_video.py.)"""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from physics_llm.gifs import PRED, TRUTH, UNPARSED, read_video, write_comparison_gif, write_trajectory_gif
from physics_llm.render import BACKGROUND, MATERIAL_COLORS, Renderer
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene, SceneObject, save_scene
from physics_llm.sim.simulate import simulate


def two_balls(vx: float = 0.0) -> Scene:
    """A circle and a box without gravity; the circle moves at vx px/s (4 px a frame at 240)."""
    objs = [SceneObject(shape="circle", radius=20.0, material="rubber", position=(200.0, 150.0), velocity=(vx, 0.0)),
            SceneObject(shape="box", size=(40.0, 40.0), material="wood", position=(600.0, 400.0))]
    return Scene(objects=objs, gravity=(0.0, 0.0), frames=10)


def rgb_frame(path, k):
    return read_video(path)[k]


def px(a, x, y):
    return tuple(int(c) for c in a[y, x])


def test_trajectory_gif_frames_size_and_colours(tmp_path):
    scene = two_balls(vx=240.0)
    traj = simulate(scene, frames=10).traj  # (10, 2, 6); the circle moves 2 image px a frame at scale 0.5
    path = write_trajectory_gif(scene, traj, tmp_path / "t.gif", scale=0.5)
    assert read_video(path).shape == (10, 300, 400, 3)
    a = rgb_frame(path, 9)
    assert px(a, 118, 70) == MATERIAL_COLORS["rubber"]  # centre (200 + 9*4, 150) * 0.5, above its radius line
    assert px(a, 300, 200) == MATERIAL_COLORS["wood"] and px(a, 200, 150) == BACKGROUND
    assert px(rgb_frame(path, 0), 100, 70) == MATERIAL_COLORS["rubber"]
    assert len(read_video(write_trajectory_gif(scene, traj, tmp_path / "e.gif", every=3))) == 4  # frames 0, 3, 6, 9
    assert not list(tmp_path.glob("*.tmp"))


def test_comparison_gif_layout_colours_and_unparsed(tmp_path):
    scene = two_balls()
    truth = simulate(scene, frames=6).traj
    pred = truth.copy()
    pred[:, 0, 0] += 100.0  # the circle predicted 100 px to the right
    parsed = np.ones((6, 2), dtype=bool)
    parsed[:, 1] = False  # the box never parsed
    path = write_comparison_gif(scene, truth, pred, tmp_path / "c.gif", parsed=parsed, title="t", scale=0.5)
    frames = read_video(path)
    assert len(frames) == 6 and frames.shape[2] == 3 * 400 and frames.shape[1] > 300
    a = rgb_frame(path, 5)
    assert px(a, 100, 70) == TRUTH  # truth panel, circle centre
    assert px(a, 400 + 150, 70) == PRED and px(a, 400 + 100, 70) == BACKGROUND  # prediction panel, shifted
    assert px(a, 400 + 300, 200) == BACKGROUND  # unparsed box is hollow...
    assert px(a, 400 + 300 - 10, 200) == UNPARSED  # ...with a grey edge (half-width 20 px * 0.5)
    assert px(a, 800 + 125, 75) == (240, 60, 50)  # overlay: red line from truth (100,75) to prediction (150,75)


def test_comparison_gif_deterministic_and_checks_shapes(tmp_path):
    scene = random_scene(5)
    truth = simulate(scene, frames=8).traj
    pred = truth + np.float32(3.0)
    a = write_comparison_gif(scene, truth, pred, tmp_path / "a.gif").read_bytes()
    b = write_comparison_gif(scene, truth, pred, tmp_path / "b.gif").read_bytes()
    assert a == b
    with pytest.raises(ValueError, match="pred shape"):
        write_comparison_gif(scene, truth, pred[:4], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="parsed must be"):
        write_comparison_gif(scene, truth, pred, tmp_path / "x.gif", parsed=np.ones((8, 1), bool))
    assert not (tmp_path / "x.gif").exists()


def test_comparison_gif_survives_diverged_prediction(tmp_path):
    scene = two_balls()
    truth = simulate(scene, frames=5).traj
    pred = truth.copy()
    pred[2:, 0, :2] = np.nan
    pred[3:, 1, :2] = 1e30
    assert len(read_video(write_comparison_gif(scene, truth, pred, tmp_path / "d.gif"))) == 5


def test_100_frame_30_object_comparison_under_2mb(tmp_path):
    seed = next(s for s in range(1000) if random_scene(s).n == 30)
    scene = random_scene(seed)
    truth = simulate(scene, frames=100).traj
    rng = np.random.default_rng(0)
    pred = truth.copy()
    pred[..., :2] += np.cumsum(rng.normal(0, 1.5, size=(100, 30, 2)), axis=0).astype(np.float32)  # drifting error
    parsed = rng.random((100, 30)) > 0.05
    path = write_comparison_gif(scene, truth, pred, tmp_path / "big.gif", parsed=parsed)
    assert len(read_video(path)) == 100
    assert path.stat().st_size < 2_000_000


def test_identical_frames_merge_into_one(tmp_path):
    scene = two_balls()  # nothing moves: Pillow merges equal consecutive frames, adding their durations
    path = write_trajectory_gif(scene, simulate(scene).traj, tmp_path / "s.gif", fps=10)
    assert len(read_video(path)) == 1 and iio.immeta(path, index=0)["duration"] == 10 * 100


def test_cli_scene_simulate_writes_gif(tmp_path):
    scene = two_balls(vx=240.0)
    save_scene(scene, tmp_path / "s.json")
    gif = tmp_path / "s.gif"
    proc = subprocess.run([sys.executable, "-m", "physics_llm.cli", "scene", "simulate", str(tmp_path / "s.json"),
                           "--gif", str(gif)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert read_video(gif).shape == (scene.frames, 300, 400, 3)


def test_gif_round_trip_gives_back_the_drawn_frames_and_same_bytes(tmp_path):
    scene = random_scene(3)  # a real scene, falling under gravity: no two frames alike
    traj = simulate(scene, frames=6).traj
    r = Renderer(scene, 0.25)
    drawn = []
    for state in traj:
        img = r.blank()
        r.draw(img, state)
        drawn.append(np.asarray(img))
    a = write_trajectory_gif(scene, traj, tmp_path / "a.gif", scale=0.25)
    got = iio.imread(a, index=None)
    assert got.shape == (6, 150, 200, 3) and got.dtype == np.uint8
    assert np.array_equal(got, np.stack(drawn))  # every frame, every pixel: the palette holds each colour
    meta = iio.immeta(a, index=0)
    assert meta["loop"] == 0 and meta["duration"] == 30  # 1000 / 30 ms, in the GIF's whole centiseconds
    assert write_trajectory_gif(scene, traj, tmp_path / "b.gif", scale=0.25).read_bytes() == a.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.gif", "b.gif"]  # no temp left
