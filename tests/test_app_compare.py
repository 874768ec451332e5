"""The compare screen with a real World and real predictors: in step, its numbers against an
independent computation, the timeline, several models, grab and fling."""

import time
from pathlib import Path

import numpy as np
import pytest

from app.models import BUILTIN, find_models
from app.states.compare import CompareState
from physics_llm.models.base import Predictor, constvel
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.physics import energy
from physics_llm.sim.scene import Scene, SceneObject
from physics_llm.sim.simulate import simulate


@pytest.fixture
def app(app_shared):
    shared, screen = app_shared  # tests/conftest.py
    made = []

    def make(*a, **kw):
        st = CompareState(shared, *a, **kw)
        made.append(st)
        return st

    yield shared, screen, make
    for st in made:
        st.close()


class SlowConstVel(Predictor):
    """Constant velocity that takes `delay` seconds a frame: a model slower than the truth plays."""

    name, context = "slow", 1

    def __init__(self, delay):
        self.delay = delay

    def _predict(self, scene, windows, target_index):
        time.sleep(self.delay)
        return constvel(windows[:, -1], scene.dt), np.ones(windows.shape[:1] + (scene.n,), dtype=bool)


def slow_loader(delay):
    def load(spec):
        return SlowConstVel(delay) if spec.startswith("slow") else load_predictor(spec)
    return load


def wait_until(condition, timeout: float, poll: float = 0.02):
    """condition()'s first truthy value, or its last value once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(poll)
    return value


def run(state, frames, dt=1 / 60):
    for _ in range(frames):
        state.update(dt)


def by_hand_constvel(truth, C, dt, start=0):
    """Frames start..: the first C true, then x + v dt with v kept (as baseline:constvel, in float32 steps)."""
    pred = [truth[start + k] for k in range(C)]
    while len(pred) < len(truth) - start:
        last = pred[-1].astype(np.float64)
        nxt = last.copy()
        nxt[:, 0] += last[:, 2] * dt
        nxt[:, 1] += last[:, 3] * dt
        pred.append(nxt.astype(np.float32))
    return pred


def test_constvel_rmse_equals_an_independent_rollout(app):
    shared, screen, make = app
    scene = random_scene(3, stage=2)
    st = make(scene, "baseline:constvel", sync=True)
    T = 12
    run(st, T - 1)
    s, t = st.session, st.tracks[0]
    truth = simulate(scene, frames=T).traj
    assert np.array_equal(s.truth[:T], truth)  # the live World is the simulator, bit for bit
    C = shared.cfg.context
    pred = by_hand_constvel(truth, C, scene.dt)
    expected = [np.sqrt(((pred[k][:, :2].astype(np.float64) - truth[k][:, :2]) ** 2).sum(1).mean()) for k in range(T)]
    np.testing.assert_allclose(t.rmse[:T], expected, rtol=1e-6, atol=1e-9)
    assert t.rmse[T - 1] > 0.1  # gravity: constvel drifts, so the check above could fail
    n = st.numbers()
    assert n["truth_frame"] == T - 1 and n["model_frames"] == {"baseline:constvel": T - 1}
    assert n["pos_rmse"]["baseline:constvel"] == t.rmse[T - 1] and n["parse_rate"]["baseline:constvel"] == 1.0
    assert n["model_ms_per_frame"]["baseline:constvel"] > 0
    assert t.energy[T - 1] == pytest.approx(float(energy(scene, pred[-1])["total"]), rel=1e-6)
    assert s.e_true[T - 1] == pytest.approx(float(energy(scene, truth[-1])["total"]))
    for overlay in (False, True):
        st.overlay = overlay
        st.draw(screen)


def test_oracle_shows_zero_error(app):
    shared, screen, make = app
    st = make(random_scene(5, stage=3), "oracle", sync=True)
    run(st, 15)
    t = st.tracks[0]
    assert st.frame == 15 and np.all(t.rmse[:16] == 0.0)
    assert st.numbers()["pos_rmse"]["oracle"] == 0.0
    st.draw(screen)


def test_a_slow_model_keeps_every_panel_on_the_same_frame(app):
    """The truth would play at 60 frames/s, the model makes at most 20: the head waits for the model, never
    passes it, and the view names the bottleneck with its frames per second."""
    shared, screen, make = app
    st = make(random_scene(2, stage=1), ["slow", "baseline:constvel"], loader=slow_loader(0.05))
    s = st.session
    t0 = last = time.perf_counter()
    named = set()
    while st.frame < 20 and time.perf_counter() - t0 < 60:  # until 20 frames are shown (however loaded)
        now = time.perf_counter()
        st.update(now - last)  # the real time since the last frame, as the app's loop gives it
        last = now
        if st.frame >= 5:  # past the first frames (the fast model's thread starting up)
            named |= {t.spec for t in s.bottleneck()}
        slow, fast = st.tracks
        f = st.frame
        assert f <= s.L and slow.shown(f) and fast.shown(f)  # every panel has the head's frame
        assert not np.isfinite(s.truth[s.L + 1:]).any()  # the truth is not computed past L ...
        assert s.L < 3 or slow.have[s.L] or slow.copy[s.L]  # ... and L is a frame the slow model has
        time.sleep(1 / 120)  # the UI's frame pacing, not a wait for a result
        st.draw(screen)
    elapsed = time.perf_counter() - t0
    assert st.frame >= 20
    assert st.frame <= 3 + elapsed / 0.05  # the model's pace (0.05 s a frame), not the truth's 60 frames/s
    assert fast.have[3:100].all()  # the fast model has computed ahead: it does not hold anyone back
    assert named == {"slow"}  # the view names the slow model, never the fast one
    assert 0 < slow.fps() <= 1 / 0.05 + 1e-6  # frames per wall second: at most what its 0.05 s allow
    stats = st.numbers()
    assert stats["model_frames"] == {"slow": st.frame, "baseline:constvel": st.frame}


def test_nothing_is_thrown_away_the_scrubber_replays_and_the_end_stops(app):
    import pygame

    shared, screen, make = app
    shared.cfg.max_frames = 40
    st = make(random_scene(4, stage=1), "baseline:constvel")
    s = st.session
    for _ in range(400):
        st.update(1 / 60)
        if s.head == 39:
            break
        time.sleep(0.001)
    assert s.head == 39 and s.L == 39 and not s.playing  # stopped at the end, not restarted
    before = s.tracks[0].pred.copy()
    st.draw(screen)
    r = st._scrub_rect
    x = r.x + (r.width - 1) * 10 // 39
    st.get_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(x, r.centery), button=1))
    st.get_event(pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, r.centery), button=1))
    assert s.head == 10
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE, mod=0))
    run(st, 5)
    assert s.head == 15 and np.array_equal(s.tracks[0].pred, before, equal_nan=True)  # replayed, not recomputed
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_EQUALS, mod=0))
    assert s.speed == 1.5
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_EQUALS, mod=0))
    run(st, 5)
    assert s.speed == 2.0 and s.head == 25
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_PERIOD, mod=0))
    assert not s.playing and s.head == 26
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_COMMA, mod=0))
    assert s.head == 25
    for _ in range(6):
        st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_MINUS, mod=0))
    assert s.speed == 0.25
    s.playing = True
    run(st, 8)
    assert s.head == 27  # a quarter of a frame per UI frame


def test_a_model_that_fails_to_load_is_a_message_and_the_truth_keeps_running(app, tmp_path):
    shared, screen, make = app
    spec = f"gpt:{tmp_path / 'no-such-checkpoint'}"
    st = make(random_scene(1, stage=1), spec)
    st.workers[spec].wait_loaded(60)
    run(st, 5)
    assert st.tracks[0].status == "failed" and st.frame == 5
    assert "no checkpoint" in st.message and "no-such-checkpoint" in st.message and st.message_is_error
    assert st.numbers()["pos_rmse"][spec] is None
    st.draw(screen)


def test_keys_pause_restart_model_new_scene_and_esc(app):
    import pygame

    shared, _, make = app
    st = make(random_scene(2, stage=1), "baseline:copy", sync=True)

    def key(k, mod=0):
        return st.get_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod))

    run(st, 4)
    assert key(pygame.K_SPACE)
    run(st, 3)
    assert st.frame == 4  # paused
    key(pygame.K_SPACE)
    key(pygame.K_r)
    assert st.frame == 0
    key(pygame.K_m)
    assert st.model == BUILTIN[BUILTIN.index("baseline:copy") + 1]
    run(st, 4)
    assert st.frame == 4 and st.tracks[0].have[4]
    seed = st.scene.seed
    key(pygame.K_n)
    assert st.scene.seed == seed + 1 and st.frame == 0
    key(pygame.K_s)
    saved = list(Path(shared.cfg.scenes_dir).glob("scene-*.json"))
    assert len(saved) == 1 and Scene.from_json(saved[0].read_text()).to_dict() == st.scene.to_dict()
    assert not key(pygame.K_ESCAPE)  # not the screen's: the Control's (which never quits on it)


def test_esc_on_compare_does_not_quit_and_q_asks_while_a_job_runs(app, tmp_path):
    import pygame

    from app.control import Control
    from app.states.editor import EditorState

    shared, screen, make = app
    states = {"compare": make(random_scene(2, stage=1), "baseline:copy"), "editor": EditorState(shared)}
    c = Control(screen, shared, states, "compare", fps=0)
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0))
    c.run(3)
    assert not c.done and c.state_name == "compare" and "q quits" in c.state.message
    c.flip_state("editor")
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0))
    c.run(1)
    assert c.state_name == "compare" and not c.done  # Esc is back
    job = shared.jobs.start("generate", ["data", "generate", "--scenes", "100000", "--out", tmp_path / "big"])
    try:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, mod=0))
        c.run(1)
        assert not c.done and c.confirm and "1 job running" in c.confirm
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_n, mod=0))
        c.run(1)
        assert c.confirm is None and not c.done
        pygame.event.post(pygame.event.Event(pygame.QUIT))  # the window's close button asks too
        c.run(1)
        assert c.confirm and not c.done
        c.draw()
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_y, mod=0))
        c.run(1)
        assert c.done
    finally:
        job.cancel()
        job.wait(10)
    c2 = Control(screen, shared, states, "compare", fps=0)
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q, mod=0))
    c2.run(2)
    assert c2.done and c2.confirm is None  # nothing to lose: q quits at once


def test_three_models_side_by_side(app):
    import pygame

    shared, screen, make = app
    scene = random_scene(6, stage=2)
    st = make(scene, ["baseline:constvel", "oracle", "baseline:copy"], sync=True)
    assert len(st.panels) == 4 and len({(p.width, p.height) for p in st.panels}) == 1
    run(st, 10)
    truth = simulate(scene, 11).traj
    rm = {t.spec: t.rmse[10] for t in st.tracks}
    assert rm["oracle"] == 0.0 and rm["baseline:copy"] > rm["baseline:constvel"] > 0
    copy_err = np.sqrt(((truth[2][:, :2].astype(np.float64) - truth[10][:, :2]) ** 2).sum(1).mean())
    assert rm["baseline:copy"] == pytest.approx(copy_err, rel=1e-6)  # copy holds the last context frame
    st.draw(screen)
    assert st._add_button() is None  # three is the most
    i, rect = st._remove_buttons()[1]
    st.get_event(pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=rect.center, button=1))
    assert st.specs == ["baseline:constvel", "baseline:copy"] and st.frame == 0 and len(st.panels) == 3
    assert "oracle" not in st.workers  # its worker is closed
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_a, mod=0))
    assert st.picker is not None
    st.picker.picked = st.model_list.index("baseline:ballistic")
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_UP, mod=0))
    assert st.specs == ["baseline:constvel", "baseline:copy", "baseline:ballistic"]
    run(st, 5)
    assert st.numbers()["model_frames"] == dict.fromkeys(st.specs, 5)
    st.overlay = True
    st.draw(screen)


def test_a_drag_in_the_truth_panel_flings_a_body_and_restarts_every_model_from_it(app):
    import pygame

    shared, screen, make = app
    scene = Scene(objects=[SceneObject(shape="circle", radius=20, material="wood", position=(200, 500)),
                           SceneObject(shape="box", size=(40, 40), material="steel", position=(600, 560))])
    st = make(scene, ["baseline:constvel", "baseline:copy"], sync=True)
    run(st, 10)
    s = st.session
    g = st.frame
    st.draw(screen)
    a = st.to_screen(tuple(s.truth[g, 0, :2]))
    ev = pygame.event.Event
    st.get_event(ev(pygame.MOUSEBUTTONDOWN, pos=a, button=1))
    assert s.grabbed == 0
    for k in range(1, 13):  # pull it up and to the right, one step a frame
        p = (a[0] + 12 * k, a[1] - 12 * k)
        st.get_event(ev(pygame.MOUSEMOTION, pos=p, rel=(12, -12), buttons=(1, 0, 0)))
        st.update(1 / 60)
        st.draw(screen)
    st.get_event(ev(pygame.MOUSEBUTTONUP, pos=p, button=1))
    r = s.L
    assert s.grabbed is None and s.grabs == [[g, r]] and r >= g + 12
    free = simulate(scene, r + 1).traj
    assert np.linalg.norm(s.truth[r, 0, :2] - free[r, 0, :2]) > 50  # the truth changed
    assert np.hypot(*s.truth[r, 0, 2:4]) > 100  # and the body is flying
    run(st, 8)
    C = shared.cfg.context
    for t in s.tracks:
        assert t.copy[g + 1:r + 1].all() and not t.have[g + 1:r + 1].any()  # the truth while held
        assert t.have[r + 1:r + 9].all()  # predictions from the release on
    want = by_hand_constvel(s.truth[:r + 9], C, scene.dt, start=r - C + 1)
    cv = s.tracks[0]
    np.testing.assert_allclose(cv.pred[r + 1:r + 9, :, :4], np.stack(want[C:C + 8])[..., :4], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(s.tracks[1].pred[r + 1], s.truth[r])  # copy: the last true frame
    assert cv.have[C:g + 1].all() and cv.rmse[g] > 0  # the frames before the grab are kept
    assert np.isfinite(cv.rmse[:r + 9]).all()
    st.draw(screen)
    # grab in the past: the World goes back to that frame, what came after is dropped
    s.seek(5)
    st.get_event(ev(pygame.MOUSEBUTTONDOWN, pos=st.to_screen(tuple(s.truth[5, 0, :2])), button=1))
    assert s.L == 5 and s.grabs == [[5, None]] and not np.isfinite(s.truth[6:]).any()
    st.get_event(ev(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0))  # Esc lets go
    assert s.grabbed is None and s.grabs == [[5, 5]]


def test_the_screen_pauses_its_models_while_another_screen_shows(app):
    shared, _, make = app
    st = make(random_scene(2, stage=1), "slow", loader=slow_loader(0.02))
    st.startup({})
    t = st.tracks[0]

    def frames() -> int:
        st.session.pump()
        return int(t.have.sum())

    run(st, 3)  # the context: the rollout is sent
    assert wait_until(lambda: frames() >= 10, 30)  # the model is computing
    st.cleanup()  # another screen shows
    n = frames()
    time.sleep(0.4)  # 20 of the model's frames, were it not paused (fewer under load: the check cannot fail so)
    m = frames()
    assert m - n <= 1  # at most the frame under way
    st.startup({})
    assert wait_until(lambda: frames() > m + 5, 30)  # back on compare: it goes on


def test_model_list_finds_checkpoints_and_adapters(tmp_path):
    (tmp_path / "runs" / "a" / "ckpt").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "ckpt" / "gpt_config.json").write_text("{}")
    (tmp_path / "runs" / "a" / "ckpt.tmp-123").mkdir()
    (tmp_path / "runs" / "a" / "ckpt.tmp-123" / "gpt_config.json").write_text("{}")  # half-written: not listed
    (tmp_path / "runs" / "lora").mkdir()
    (tmp_path / "runs" / "lora" / "adapter_config.json").write_text('{"base_model_name_or_path": "org/base"}')
    found = find_models([str(tmp_path / "runs"), str(tmp_path / "missing")])
    assert found == BUILTIN + [f"gpt:{tmp_path / 'runs' / 'a' / 'ckpt'}", f"hf:org/base@{tmp_path / 'runs' / 'lora'}"]


def test_sync_rollout_of_a_hand_made_free_fall_is_ballistic_exact(app):
    """baseline:ballistic on one ball in free fall (no walls) matches the simulator to float32 rounding."""
    shared, _, make = app
    scene = Scene(objects=[SceneObject(shape="circle", radius=10, material="wood", position=(400, 100),
                                       velocity=(30, -50))], walls=None)
    st = make(scene, "baseline:ballistic", sync=True)
    run(st, 10)
    assert np.nanmax(st.tracks[0].rmse) < 1e-3


def test_overlays_trails_velocity_errors_and_escaped_markers(app):
    import pygame

    shared, screen, make = app
    scene = Scene(objects=[SceneObject(shape="circle", radius=10, material="wood", position=(500, 300),
                                       velocity=(900, 0)),
                           SceneObject(shape="box", size=(30, 30), material="steel", position=(300, 300))])
    st = make(scene, "baseline:constvel", sync=True)  # constvel flies the first ball through the right wall
    run(st, 30)
    t = st.tracks[0]
    assert t.pred[30, 0, 0] > scene.width > st.session.truth[30, 0, 0]  # the prediction left; the truth bounced
    plain = st._pred_image(0, 30)
    for k in (pygame.K_t, pygame.K_v, pygame.K_x):
        st.get_event(pygame.event.Event(pygame.KEYDOWN, key=k, mod=0))
    assert st.layers == {"trails", "velocity", "error"}
    layered = st._pred_image(0, 30)
    assert pygame.image.tobytes(layered, "RGB") != pygame.image.tobytes(plain, "RGB")
    marker = (plain.get_width() - 7, round(t.pred[30, 0, 1] * st.renderer.scale) + 2)  # at the right edge
    assert tuple(plain.get_at(marker))[:3] == (255, 70, 70)
    st.draw(screen)
    st.get_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_t, mod=0))
    assert st.layers == {"velocity", "error"}


@pytest.mark.slow
def test_a_tiny_gpt_in_its_own_process_stays_in_step(app, tmp_path):
    """The gpt: path end to end: a spawned worker process loads a tiny checkpoint and predicts every frame."""
    import torch

    from physics_llm.models.checkpoint import save_checkpoint
    from physics_llm.models.gpt import GPT, GPTConfig
    from physics_llm.text import DigitTokenizer, TextFormat

    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=64, block_size=384, n_layer=1, n_head=2, n_embd=32)
    save_checkpoint(tmp_path / "ck", GPT(cfg), cfg, TextFormat(), DigitTokenizer(), step=1)
    shared, screen, make = app
    spec = f"gpt:{tmp_path / 'ck'}"
    st = make(random_scene(1, stage=1), [spec, "baseline:constvel"], sync=True)
    w = st.workers[spec]
    assert w.process and w.wait_loaded(120) and w.status == "ready", w.error
    run(st, 6)
    assert st.numbers()["model_frames"] == {spec: 6, "baseline:constvel": 6}
    t = st.tracks[0]
    assert t.have[3:7].all() and t.ms_per_frame() > 0
    st.close()
    assert not w.runner.is_alive()
