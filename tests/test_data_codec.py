"""The shard codec: hand-made trajectories with answers checked by hand, and real simulations."""

import numpy as np
import pytest

from physics_llm.data import codec
from physics_llm.sim.generate import random_scene
from physics_llm.sim.simulate import simulate
from physics_llm.sim.state import wrap_angle

UNITS = (0.01, 0.01, 0.01, 0.01, 1e-4, 1e-4)
DT = 1.0 / 60.0


def _const_velocity(T=5):
    """One body at x = 100 + t px (60 px/s at 60 fps), at rest in y, spinning at 6 rad/s."""
    traj = np.zeros((T, 1, 6), dtype=np.float32)
    t = np.arange(T)
    traj[:, 0, 0] = 100 + t
    traj[:, 0, 1] = 50
    traj[:, 0, 2] = 60
    traj[:, 0, 4] = wrap_angle(0.1 * t)
    traj[:, 0, 5] = 6
    return traj


def test_constant_velocity_leaves_zero_residuals():
    q = codec.quantise(_const_velocity(), UNITS)
    assert q[:, 0, 0].tolist() == [10000, 10100, 10200, 10300, 10400]  # 0.01 px steps
    d = codec.residuals(q, UNITS, DT)  # (6, N, T)
    # frame 0 holds the values; afterwards x moves exactly as (v0 + v1)/2 * dt predicts
    assert d[:, 0, 0].tolist() == [10000, 5000, 6000, 0, 0, 60000]
    assert not d[:, :, 1:].any()
    assert (codec.unresiduals(d, UNITS, DT) == q).all()


def test_zigzag_round_trip_small_magnitudes_first():
    d = np.array([0, -1, 1, -2, 2, -(2**40), 2**40], dtype=np.int64)
    z = codec._zigzag(d)
    assert z[:5].tolist() == [0, 1, 2, 3, 4]
    assert (codec._unzigzag(z) == d).all()


def test_angle_crossing_pi_decodes_within_bound():
    traj = np.zeros((4, 1, 6), dtype=np.float32)
    traj[:, 0, 4] = wrap_angle(np.array([3.10, 3.13, 3.16, 3.19]))  # 3.16 wraps to about -3.1232
    traj[:, 0, 5] = 1.8
    contacts = np.array([[True], [False], [True]])
    blob = codec.encode(traj, contacts, UNITS, DT)
    tr = codec.decode(blob, 1, 4, UNITS, DT)
    err = np.abs(wrap_angle(tr.traj[:, 0, 4].astype(np.float64) - traj[:, 0, 4]))
    assert err.max() <= 5e-5 + 1e-6
    assert tr.traj[2, 0, 4] < 0  # decoded angles are wrapped again
    assert tr.contacts[:, 0].tolist() == [True, False, True]


def test_simulated_scenes_within_tolerance_and_compact():
    for seed in (3, 11):
        scene = random_scene(seed, stage=5)  # fast, spinning, crowded: the hardest case
        scene.frames = 60
        tr = simulate(scene)
        blob = codec.encode(tr.traj, tr.contacts, UNITS, scene.dt)
        out = codec.decode(blob, scene.n, scene.frames, UNITS, scene.dt)
        assert out.traj.dtype == np.float32 and out.traj.shape == tr.traj.shape
        err = np.abs(out.traj.astype(np.float64) - tr.traj)
        err[..., 4] = np.abs(wrap_angle(out.traj[..., 4].astype(np.float64) - tr.traj[..., 4]))
        assert err[..., :4].max() <= 0.01  # px and px/s
        assert err[..., 4:].max() <= 1e-4  # rad and rad/s
        assert (out.contacts == tr.contacts).all()
        assert len(blob) < tr.traj.nbytes / 3  # float32 is the baseline to beat


def test_decode_rejects_wrong_shape():
    blob = codec.encode(_const_velocity(), np.zeros((4, 1), bool), UNITS, DT)
    with pytest.raises(ValueError, match="expected"):
        codec.decode(blob, 2, 5, UNITS, DT)
