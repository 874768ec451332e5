"""The editor turns mouse events into a valid Scene, refuses overlapping or outside objects, saves and runs."""

import math
import subprocess
import sys
from pathlib import Path

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


def key(ed, k, mod=0):
    import pygame

    return ed.get_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod))


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
    assert len(ed.objects) == 1 and "clear all 1 objects?" in ed.message  # asks first
    key(ed, pygame.K_n)
    assert len(ed.objects) == 1 and ed.message == "kept the scene"
    key(ed, pygame.K_x)
    key(ed, pygame.K_y)
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


def test_draw_move_rotate_resize_delete_then_undo_all_and_redo_all(editor):
    """Every edit is one undo step: undoing all gives back each earlier scene JSON in turn, redoing all the last."""
    import pygame

    ed, screen = editor
    seen = [ed.to_json()]

    def did():
        seen.append(ed.to_json())
        assert seen[-1] != seen[-2]

    drag(ed, 1, (200, 300), (230, 300))  # a circle
    did()
    key(ed, pygame.K_b)
    drag(ed, 1, (400, 380), (460, 420))  # a box, selected
    did()
    drag(ed, 1, (430, 400), (530, 350))  # move it by (100, -50)
    did()
    box = ed.objects[1]
    assert box.position == pytest.approx((530, 350), abs=1.5) and ed.selected == 1  # screen px rounding
    ed.draw(screen)
    h = ed.handles(1)["rotate"]  # drag the round handle a quarter turn: from above the box to its right
    drag(ed, 1, h, (box.position[0] + 80, box.position[1]))
    did()
    assert ed.objects[1].angle == pytest.approx(math.pi / 2, abs=0.02)
    key(ed, pygame.K_r)  # +15 degrees
    did()
    assert ed.objects[1].angle == pytest.approx(math.pi / 2 + math.radians(15), abs=0.02)
    corner = ed.handles(1)["resize"]
    drag(ed, 1, corner, (corner[0] + 10, corner[1] + 10))  # the square handle resizes
    did()
    assert ed.objects[1].size != box.size
    key(ed, pygame.K_EQUALS)  # +10%
    did()
    key(ed, pygame.K_5, mod=pygame.KMOD_SHIFT)  # the selected body's material: stone
    did()
    assert ed.objects[1].material == "stone" and ed.material == "wood"  # the next body's is unchanged
    drag(ed, 1, (200, 300), (200, 300))  # select the circle (a click: no edit)
    key(ed, pygame.K_DELETE)
    did()
    assert len(ed.objects) == 1
    ed.set_world(gravity=0.0)
    did()
    n = len(seen) - 1
    for k in range(n):
        key(ed, pygame.K_z, mod=pygame.KMOD_CTRL)
        assert ed.to_json() == seen[n - 1 - k]
    assert ed.objects == [] and "nothing to undo" in (key(ed, pygame.K_z, mod=pygame.KMOD_CTRL) and ed.message)
    for k in range(n):
        key(ed, pygame.K_z, mod=pygame.KMOD_CTRL | pygame.KMOD_SHIFT) if k % 2 else \
            key(ed, pygame.K_y, mod=pygame.KMOD_CTRL)
        assert ed.to_json() == seen[k + 1]
    assert ed.to_json() == seen[-1]
    ed.draw(screen)


def test_material_and_shape_keys_set_the_next_body_only(editor):
    import pygame

    ed, _ = editor
    for k, name in zip((pygame.K_1, pygame.K_3, pygame.K_4, pygame.K_5, pygame.K_6),
                       ("rubber", "steel", "ice", "stone", "cork")):
        key(ed, k)
        drag(ed, 1, (100 + 120 * len(ed.objects), 300), (100 + 120 * len(ed.objects), 300))
    assert [o.material for o in ed.objects] == ["rubber", "steel", "ice", "stone", "cork"]


def test_a_move_onto_another_body_is_refused_and_snaps_back(editor):
    ed, _ = editor
    drag(ed, 1, (200, 300), (230, 300))
    drag(ed, 1, (400, 300), (430, 300))
    before = ed.to_json()
    drag(ed, 1, (400, 300), (220, 300))  # onto the first
    assert "overlap" in ed.message and ed.message_is_error and ed.to_json() == before


def test_presets_open_a_file_and_run(editor):
    import pygame

    from app.states.editor import presets

    ed, screen = editor
    names = presets()
    assert names[:5] == [f"stage {k}" for k in range(1, 6)] and len(names) == 13  # 5 stages, 8 OOD suites
    for i, name in enumerate(names):
        ed.preset.index = i
        key(ed, pygame.K_p)
        assert ed.objects and ed.scene().n == len(ed.objects), name
    assert ed.base.gravity == (0.0, 2.5 * 981.0)  # the last is ood:high_gravity; its world comes along
    ed.draw(screen)
    key(ed, pygame.K_s)
    key(ed, pygame.K_a)
    key(ed, pygame.K_z, mod=pygame.KMOD_CTRL)
    key(ed, pygame.K_o)  # the file list: scene-0001.json and scenes.jsonl #1
    assert ed.files is not None and ed.files.items == ["scene-0001.json", "scenes.jsonl  #1"]
    ed.draw(screen)
    key(ed, pygame.K_DOWN)
    key(ed, pygame.K_RETURN)
    assert ed.files is None and ed.base.gravity == (0.0, 2.5 * 981.0) and not ed.dirty
    key(ed, pygame.K_RETURN)
    assert ed.done and ed.next == "compare" and ed.persist["scene"].to_dict() == ed.scene().to_dict()


def test_a_scene_file_dropped_on_the_window_opens_in_the_editor(app_shared, tmp_path):
    """Any scene file, wherever it is: dropped on the window (SDL's DROPFILE) from any screen."""
    import pygame

    from app.control import Control
    from app.states.compare import CompareState
    from physics_llm.sim.generate import random_scene
    from physics_llm.sim.scene import save_scene

    shared, screen = app_shared
    ed = EditorState(shared)
    c = Control(screen, shared, {"compare": CompareState(shared, random_scene(1), "baseline:copy"), "editor": ed},
                "compare", fps=0)
    try:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        one = random_scene(5, stage=2)
        save_scene(one, elsewhere / "mine.json")
        pygame.event.post(pygame.event.Event(pygame.DROPFILE, file=str(elsewhere / "mine.json")))
        c.run(1)
        assert c.state_name == "editor" and ed.scene().to_dict()["objects"] == one.to_dict()["objects"]
        many = [random_scene(s, stage=1) for s in (7, 8)]
        (elsewhere / "two.jsonl").write_text("".join(s.to_json() + "\n" for s in many))
        pygame.event.post(pygame.event.Event(pygame.DROPFILE, file=str(elsewhere / "two.jsonl")))
        c.run(1)
        assert ed.files is not None and ed.files.items == ["two.jsonl  #1", "two.jsonl  #2"]
        key(ed, pygame.K_DOWN)
        key(ed, pygame.K_RETURN)
        assert ed.scene().to_dict()["objects"] == many[1].to_dict()["objects"]
        key(ed, pygame.K_z, mod=pygame.KMOD_CTRL)  # opening a file is an edit like any other
        assert ed.scene().to_dict()["objects"] == one.to_dict()["objects"]
        before = ed.to_json()
        (elsewhere / "bad.json").write_text('{"version": 1, "objects": [')
        pygame.event.post(pygame.event.Event(pygame.DROPFILE, file=str(elsewhere / "bad.json")))
        c.run(1)
        assert ed.message_is_error and "bad.json" in ed.message and ed.to_json() == before
        c.draw()
    finally:
        c.close()
