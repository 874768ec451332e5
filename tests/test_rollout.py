"""The one rollout stepping core (physics_llm/models/rollout.py), and the two loops that use it:
eval's run_rollouts (several scenes in lockstep) and the app worker's serve() (one frame a turn,
commands handled in between)."""

import queue
import threading

import numpy as np
import pytest

from app.worker import serve
from physics_llm.models.base import Predictor, constvel
from physics_llm.models.registry import load_predictor
from physics_llm.models.rollout import Rollouts
from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate


@pytest.fixture(scope="module")
def scenes():
    out = []
    for seed in (21, 22):
        scene = random_scene(seed, stage=1)
        out.append((scene, simulate(scene, frames=20).traj))
    return out


class Recording(Predictor):
    """constvel that records every predict_many call's (scene count, target frames)."""

    name, context = "recording", 2

    def __init__(self):
        self.calls = []

    def _predict(self, scene, windows, target_index):
        return constvel(windows[:, -1], scene.dt), np.ones(windows.shape[:1] + (scene.n,), bool)

    def predict_many(self, items):
        self.calls.append([int(t[0]) for _, _, t in items])
        return super().predict_many(items)


def by_hand(scene, context, steps):
    """The closed loop written out: each constvel frame from the previous frame, in float32."""
    frames = [np.asarray(context[-1], np.float32)]
    for _ in range(steps):
        frames.append(constvel(frames[-1], scene.dt).astype(np.float32))
    return np.stack(frames[1:])


def test_lockstep_rollouts_of_unequal_lengths(scenes):
    p = Recording()
    (a, ta), (b, tb) = scenes
    r = Rollouts(p, [(a, ta[0:2], 2, 5), (b, tb[3:5], 5, 3)])
    assert (r.total, r.done, r.frame(0), r.frame(1)) == (5, False, 2, 5)
    got = {0: [], 1: []}
    for outs in r:
        for i, out in outs:
            assert out.states.shape == (1, scenes[i][0].n, 6) and out.parsed.all()
            got[i].append(out.states[0])
    assert r.done and r.k == 5
    # one predict_many call a step, with the rollouts still going; target = the frame predicted
    assert p.calls == [[2, 5], [3, 6], [4, 7], [5], [6]]
    np.testing.assert_array_equal(np.stack(got[0]), by_hand(a, ta[0:2], 5))
    np.testing.assert_array_equal(np.stack(got[1]), by_hand(b, tb[3:5], 3))


def test_a_failed_step_advances_nothing(scenes):
    scene, traj = scenes[0]

    class FailsOnce(Recording):
        def predict_many(self, items):
            if len(self.calls) == 1:
                self.calls.append("failed")
                raise RuntimeError("boom")
            return super().predict_many(items)

    r = Rollouts(FailsOnce(), [(scene, traj[0:2], 2, 3)])
    first = r.step()
    window = r.windows[0].copy()
    with pytest.raises(RuntimeError):
        r.step()
    assert r.k == 1 and r.frame() == 3
    np.testing.assert_array_equal(r.windows[0], window)
    rest = [outs[0][1].states[0] for outs in r]
    np.testing.assert_array_equal(np.stack([first[0][1].states[0]] + rest), by_hand(scene, traj[0:2], 3))


def test_the_context_is_copied_not_kept(scenes):
    scene, traj = scenes[0]
    context = traj[0:2].copy()
    r = Rollouts(load_predictor("baseline:constvel"), [(scene, context, 2, 2)])
    context[:] = np.nan
    assert np.isfinite(np.stack([outs[0][1].states for outs in r])).all()


def test_no_rollouts_and_zero_steps(scenes):
    assert Rollouts(Recording(), []).done
    scene, traj = scenes[0]
    p = Recording()
    r = Rollouts(p, [(scene, traj[0:2], 2, 0), (scene, traj[0:2], 2, 1)])
    assert [[i for i, _ in outs] for outs in r] == [[1]] and p.calls == [[2]]


# ------------------------------------------------------------ the app worker's loop


class Gated(Recording):
    """constvel that waits for `gate` before each frame, so a test decides when a frame is done."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Semaphore(0)

    def _predict(self, scene, windows, target_index):
        assert self.gate.acquire(timeout=10)
        return super()._predict(scene, windows, target_index)


def messages(outbox, n):
    return [outbox.get(timeout=10) for _ in range(n)]


def predicting(p, n):
    """Wait until the worker is inside its n-th prediction (its predict_many call is recorded)."""
    for _ in range(1000):
        if len(p.calls) >= n:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"{len(p.calls)} predictions, waited for {n}")


@pytest.fixture
def worker():
    p = Gated()
    inbox, outbox = queue.Queue(), queue.Queue()
    t = threading.Thread(target=serve, args=("gated", inbox, outbox, lambda spec: p), daemon=True)
    t.start()
    assert outbox.get(timeout=10) == ("loaded", 2)
    yield p, inbox, outbox
    inbox.put(("quit",))
    for _ in range(50):
        p.gate.release()
    t.join(10)
    assert not t.is_alive()


def test_worker_frames_are_the_core_s_rollout(worker, scenes):
    p, inbox, outbox = worker
    scene, traj = scenes[0]
    inbox.put(("rollout", 7, scene, traj[0:2], 2, 5))  # frames 2..5
    for _ in range(4):
        p.gate.release()
    got = messages(outbox, 5)
    assert [m[:3] for m in got[:4]] == [("frame", 7, k) for k in (2, 3, 4, 5)] and got[4] == ("done", 7)
    np.testing.assert_array_equal(np.stack([m[3] for m in got[:4]]), by_hand(scene, traj[0:2], 4))
    assert all(m[4].all() and m[5] >= 0 for m in got[:4])
    assert p.calls == [[2], [3], [4], [5]]


def test_worker_commands_come_in_between_frames(worker, scenes):
    p, inbox, outbox = worker
    scene, traj = scenes[0]
    inbox.put(("rollout", 1, scene, traj[0:2], 2, 100))
    p.gate.release()
    assert outbox.get(timeout=10)[:3] == ("frame", 1, 2)
    predicting(p, 2)  # frame 3 is being predicted: a new rollout replaces the old one once that frame is done
    inbox.put(("rollout", 2, scene, traj[5:7], 7, 8))
    p.gate.release()
    p.gate.release()
    p.gate.release()
    got = messages(outbox, 4)
    assert [m[:3] for m in got[:3]] == [("frame", 1, 3), ("frame", 2, 7), ("frame", 2, 8)] and got[3] == ("done", 2)
    np.testing.assert_array_equal(np.stack([m[3] for m in got[1:3]]), by_hand(scene, traj[5:7], 2))
    # pause holds the rollout between frames; unpausing goes on from the next frame; stop ends it
    inbox.put(("rollout", 3, scene, traj[0:2], 2, 100))
    p.gate.release()
    assert outbox.get(timeout=10)[:3] == ("frame", 3, 2)
    predicting(p, 6)
    inbox.put(("pause", True))
    p.gate.release()  # frame 3 was already being predicted
    assert outbox.get(timeout=10)[:3] == ("frame", 3, 3)
    p.gate.release()
    with pytest.raises(queue.Empty):
        outbox.get(timeout=0.3)
    assert len(p.calls) == 6
    inbox.put(("pause", False))
    assert outbox.get(timeout=10)[:3] == ("frame", 3, 4)
    predicting(p, 8)
    inbox.put(("stop",))
    p.gate.release()
    assert outbox.get(timeout=10)[:3] == ("frame", 3, 5)
    with pytest.raises(queue.Empty):
        outbox.get(timeout=0.3)
    assert len(p.calls) == 8


def test_worker_reports_a_failed_frame_and_serves_on(scenes):
    scene, traj = scenes[0]

    class FailsAtFrame3(Recording):
        def _predict(self, scene, windows, target_index):
            if target_index[0] == 3:
                raise ValueError("no frame 3")
            return super()._predict(scene, windows, target_index)

    inbox, outbox = queue.Queue(), queue.Queue()
    t = threading.Thread(target=serve, args=("f", inbox, outbox, lambda spec: FailsAtFrame3()), daemon=True)
    t.start()
    inbox.put(("rollout", 4, scene, traj[0:2], 2, 6))
    got = messages(outbox, 3)
    assert got[0] == ("loaded", 2) and got[1][:3] == ("frame", 4, 2) and got[2] == ("failed", 4, 3,
                                                                                   "ValueError: no frame 3")
    inbox.put(("rollout", 5, scene, traj[4:6], 6, 6))
    got = messages(outbox, 2)
    assert got[0][:3] == ("frame", 5, 6) and got[1] == ("done", 5)
    inbox.put(("quit",))
    t.join(10)
    assert not t.is_alive()
