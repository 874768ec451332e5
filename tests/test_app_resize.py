"""The window is resizable: every screen lays itself out again from 1024x640 up, nothing overlaps."""

import itertools

import pytest

from app.config import MIN_SIZE


def inside(rect, box):
    return box.contains(rect)


def disjoint(rects):
    return all(not a.colliderect(b) for a, b in itertools.combinations(rects, 2))


def layout_problems(control) -> list[str]:
    """Rects of every screen that leave the body or overlap each other."""
    body = control.shared.body
    st = control.states
    bad = []
    c = st["compare"]
    rects = list(c.panels) + [c._timeline, c._info]
    if not (all(inside(r, body) for r in rects) and disjoint(c.panels + [c._timeline, c._info])):
        bad.append("compare panels/timeline/info")
    tl = [c._play_rect, c._step_back_rect, c._step_rect, c._speed_rect, c._scrub_rect]
    if not (disjoint(tl) and all(inside(r, c._timeline) for r in tl)):
        bad.append("compare timeline")
    e = st["editor"]
    widgets = [w.rect for w, _ in e._widgets()]
    if not (inside(e.canvas, body) and inside(e.side, body) and not e.canvas.colliderect(e.side)):
        bad.append("editor canvas/side")
    if not (disjoint(widgets) and all(inside(r, e.side) for r in widgets) and e._info_top < e.side.bottom - 40):
        bad.append("editor side panel")
    j = st["jobs"]
    forms = [w.rect for w in j._widgets()] + [j.gen_button.rect, j.train_button.rect, j.eval_button.rect]
    if not (disjoint(j.cards) and disjoint(forms) and all(any(inside(r, card) for card in j.cards) for r in forms)):
        bad.append("jobs forms")
    if not (all(inside(r, body) for r in j.cards + [j.list.rect, j.output]) and disjoint([j.list.rect, j.output])):
        bad.append("jobs list/output")
    g = st["gallery"]
    if not (all(inside(r, body) for r in (g.list.rect, g.media_rect, g.text_rect))
            and disjoint([g.list.rect, g.media_rect, g.text_rect])):
        bad.append("gallery")
    return bad


@pytest.fixture
def control(app_shared):
    import pygame

    from app.control import Control
    from app.states.compare import CompareState
    from app.states.editor import EditorState
    from app.states.gallery import GalleryState
    from app.states.jobs import JobsState
    from physics_llm.sim.generate import random_scene

    shared, screen = app_shared
    states = {"compare": CompareState(shared, random_scene(1), ["baseline:constvel", "oracle", "baseline:copy"]),
              "editor": EditorState(shared), "jobs": JobsState(shared), "gallery": GalleryState(shared)}
    c = Control(screen, shared, states, "compare", fps=0)
    yield c
    c.close()


@pytest.mark.parametrize("size", [(1024, 640), (1280, 720), (1920, 1080), (1100, 900), (1600, 640)])
def test_every_screen_fits_at_each_size(control, size):
    import pygame

    pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, w=size[0], h=size[1], size=size))
    control.run(1)
    assert control.screen.get_size() == size and control.shared.body.width == size[0]
    assert layout_problems(control) == []
    for name in ("compare", "editor", "jobs", "gallery"):
        control.flip_state(name)
        control.run(2)


def test_a_window_made_too_small_is_kept_at_the_minimum(control):
    import pygame

    jobs = control.states["jobs"]
    jobs.eval_count.index = 3
    pygame.event.post(pygame.event.Event(pygame.VIDEORESIZE, w=800, h=500, size=(800, 500)))
    control.run(1)
    assert control.screen.get_size() == MIN_SIZE and layout_problems(control) == []
    assert jobs.eval_count.index == 3  # what was chosen in the forms survives a resize
