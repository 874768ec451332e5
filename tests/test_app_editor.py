"""The editor turns mouse events into a valid Scene, refuses overlapping or outside objects, saves and runs."""

import os
import subprocess
import sys
from pathlib import Path

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame opens a display: no window in tests

import math

import pytest

from app.states.editor import EditorState
from physics_llm.sim.scene import load_scene, load_scenes_jsonl

ROOT = Path(__file__).parents[1]


@pytest.fixture
def editor(app_shared):
    shared, screen = app_shared  # tests/conftest.py
    ed = EditorState(shared)
    ed.startup({})
    return ed, screen


def drag(ed, button, a, b):
    """Press at world point a, move to b, release there (real pygame events); returns the screen points."""
    import pygame

    pa, pb = ed.to_screen(a), ed.to_screen(b)
    ed.get_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pa, button=button))
    ed.get_event(pygame.event.Event(pygame.MOUSEMOTION, pos=pb, rel=(pb[0] - pa[0], pb[1] - pa[1]), buttons=(1, 0, 0)))
    ed.get_event(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pb, button=button))
    return ed.to_world(pa), ed.to_world(pb)


def key(ed, k):
    import pygame

    return ed.get_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0))


def test_mouse_drags_make_a_valid_scene(editor):
    import pygame

    ed, screen = editor
    key(ed, pygame.K_3)  # steel, nothing selected yet
    a, b = drag(ed, 1, (200, 300), (240, 300))  # circle: centre at the press, radius to the release
    key(ed, pygame.K_b)
    c, d = drag(ed, 1, (400, 380), (460, 420))  # box: corner to corner
    ed.draw(screen)  # the preview and canvas draw without error
    scene = ed.scene()
    assert scene.n == 2
    circle, box = scene.objects
    assert circle.shape == "circle" and circle.material == "steel"
    assert circle.position == pytest.approx(a, abs=0.051)
    assert circle.radius == pytest.approx(math.dist(a, b), abs=0.051)
    assert box.shape == "box" and box.size == pytest.approx((d[0] - c[0], d[1] - c[1]), abs=0.051)
    assert box.position == pytest.approx(((c[0] + d[0]) / 2, (c[1] + d[1]) / 2), abs=0.051)
    # right-drag from the circle sets its velocity: velocity_per_px px/s per px of drag
    p, q = drag(ed, 3, circle.position, (circle.position[0] + 20, circle.position[1] - 10))
    v = ed.scene().objects[0].velocity
    k = ed.cfg.velocity_per_px
    assert v == pytest.approx(((q[0] - circle.position[0]) * k, (q[1] - circle.position[1]) * k), abs=0.051)
    assert v[0] > 50 and v[1] < -25


def test_overlapping_and_outside_objects_are_refused(editor):
    ed, _ = editor
    drag(ed, 1, (200, 300), (230, 300))  # radius 30
    assert len(ed.objects) == 1
    drag(ed, 1, (240, 300), (260, 300))  # radius 20 at 40 px: overlaps by about 10 px
    assert len(ed.objects) == 1
    assert ed.message.startswith("refused") and "overlap" in ed.message and ed.message_is_error
    drag(ed, 1, (20, 20), (60, 20))  # radius 40 at (20, 20): leaves the world
    assert len(ed.objects) == 1 and "outside" in ed.message
    drag(ed, 1, (300, 300), (320, 300))  # clear of the first: accepted
    assert len(ed.objects) == 2 and ed.message.startswith("added")


def test_select_delete_clear(editor):
    import pygame

    ed, _ = editor
    drag(ed, 1, (200, 300), (230, 300))
    drag(ed, 1, (500, 300), (520, 300))
    drag(ed, 1, (200, 300), (200, 300))  # a click on the first circle selects it, adds nothing
    assert ed.selected == 0 and len(ed.objects) == 2
    key(ed, pygame.K_DELETE)
    assert len(ed.objects) == 1 and ed.objects[0].position[0] == pytest.approx(500, abs=1)
    key(ed, pygame.K_x)
    assert ed.objects == []
    key(ed, pygame.K_s)
    assert "objects is empty" in ed.message and ed.message_is_error


def test_save_append_run_and_eval_the_scenes_file(editor):
    import pygame

    ed, _ = editor
    drag(ed, 1, (200, 300), (230, 300))
    key(ed, pygame.K_b)
    drag(ed, 1, (400, 380), (460, 420))
    key(ed, pygame.K_s)
    saved = Path(ed.cfg.scenes_dir) / "scene-0001.json"
    assert load_scene(saved).to_dict() == ed.scene().to_dict()
    key(ed, pygame.K_a)
    key(ed, pygame.K_a)
    jsonl = Path(ed.cfg.scenes_dir) / "scenes.jsonl"
    assert len(load_scenes_jsonl(jsonl)) == 2
    key(ed, pygame.K_RETURN)
    assert ed.done and ed.next == "compare" and ed.persist["scene"].to_dict() == ed.scene().to_dict()
    r = subprocess.run([sys.executable, "-m", "physics_llm.cli", "eval", "--scenes", str(jsonl), "--model",
                        "baseline:constvel", "--no-baselines", "--scenes-per-suite", "0", "--windows", "2",
                        "--horizon", "5", "--gifs", "0", "--out", str(Path(ed.cfg.scenes_dir).parent / "rep")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "in_dist: 2 scenes" in r.stdout + r.stderr
