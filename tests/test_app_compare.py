"""The compare screen with a real World and real predictors: its numbers against an independent computation."""

import os
from pathlib import Path

os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame opens a display: no window in tests

import numpy as np
import pytest

from app.models import BUILTIN, find_models
from app.states.compare import CompareState
from physics_llm.sim.generate import random_scene
from physics_llm.sim.physics import energy
from physics_llm.sim.scene import Scene, SceneObject
from physics_llm.sim.simulate import simulate



@pytest.fixture
def app(app_shared):
    return app_shared  # tests/conftest.py


def run(state, frames):
    for _ in range(frames):
        state.update(1 / 60)


def test_constvel_rmse_equals_an_independent_rollout(app):
    shared, screen = app
    scene = random_scene(3, stage=2)
    st = CompareState(shared, scene, "baseline:constvel", sync=True)
    T = 12
    run(st, T - 1)
    truth = simulate(scene, frames=T).traj
    assert np.array_equal(np.stack(st.truth), truth)  # the live World is the simulator, bit for bit
    C, dt = shared.cfg.context, scene.dt
    pred = [truth[k] for k in range(C)]
    for _ in range(C, T):  # constant velocity by hand: x + v dt, v kept
        last = pred[-1].astype(np.float64)
        nxt = last.copy()
        nxt[:, 0] += last[:, 2] * dt
        nxt[:, 1] += last[:, 3] * dt
        pred.append(nxt.astype(np.float32))
    expected = [np.sqrt(((pred[k][:, :2].astype(np.float64) - truth[k][:, :2]) ** 2).sum(1).mean()) for k in range(T)]
    np.testing.assert_allclose(st.rmse, expected, rtol=1e-6, atol=1e-9)
    assert st.rmse[-1] > 0.1  # gravity: constvel drifts, so the check above could fail
    n = st.numbers()
    assert (n["frame"], n["pred_frame"]) == (T - 1, T - 1)
    assert n["pos_rmse"] == st.rmse[-1] and n["parse_rate"] == 1.0 and n["sec_per_frame"] > 0
    assert n["energy_true"] == pytest.approx(float(energy(scene, truth[-1])["total"]))
    assert n["energy_pred"] == pytest.approx(float(energy(scene, pred[-1])["total"]), rel=1e-6)
    for overlay in (False, True):
        st.overlay = overlay
        st.draw(screen)


def test_oracle_shows_zero_error(app):
    shared, screen = app
    st = CompareState(shared, random_scene(5, stage=3), "oracle", sync=True)
    run(st, 15)
    assert len(st.rmse) == 16 and max(st.rmse) == 0.0
    assert st.numbers()["pos_rmse"] == 0.0
    st.draw(screen)


def test_a_model_that_fails_to_load_is_a_message_and_the_truth_keeps_running(app, tmp_path):
    shared, screen = app
    spec = f"gpt:{tmp_path / 'no-such-checkpoint'}"
    st = CompareState(shared, random_scene(1, stage=1), spec)
    run(st, 3)  # the model loads on its worker thread; the truth does not wait for it
    assert st.frame == 3
    st.rollout.thread.join(60)
    run(st, 2)
    assert st.rollout.status == "failed" and st.frame == 5
    assert "failed to load" in st.message and "no-such-checkpoint" in st.message and st.message_is_error
    assert st.numbers()["pos_rmse"] is None
    st.draw(screen)


def test_keys_pause_restart_model_and_new_scene(app):
    import pygame

    shared, _ = app
    st = CompareState(shared, random_scene(2, stage=1), "baseline:copy", sync=True)

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
    assert st.pred_frame == 4
    seed = st.scene.seed
    key(pygame.K_n)
    assert st.scene.seed == seed + 1 and st.frame == 0
    key(pygame.K_s)
    saved = list(Path(shared.cfg.scenes_dir).glob("scene-*.json"))
    assert len(saved) == 1 and Scene.from_json(saved[0].read_text()).to_dict() == st.scene.to_dict()


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
    shared, _ = app
    scene = Scene(objects=[SceneObject(shape="circle", radius=10, material="wood", position=(400, 100),
                                       velocity=(30, -50))], walls=None)
    st = CompareState(shared, scene, "baseline:ballistic", sync=True)
    run(st, 10)
    assert max(st.rmse) < 1e-3
