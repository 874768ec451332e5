"""Single-step and rollout runs with real simulated scenes and predictors whose error is known."""

import numpy as np
import pytest

from physics_llm.errors import UserError
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.runner import run_rollouts, run_single, sample_targets
from physics_llm.eval.suites import Case, SceneSource, expand_suites
from physics_llm.models.base import Predictor
from physics_llm.models.registry import load_predictor
from physics_llm.sim.generate import random_scene
from physics_llm.sim.scene import Scene
from physics_llm.sim.simulate import simulate

CFG = EvalConfig(windows=6, horizon=30, horizons=[1, 5, 10, 20, 50], rollout_batch=2)


@pytest.fixture(scope="module")
def cases():
    out = []
    for seed in (11, 12, 13):
        scene = random_scene(seed)
        tr = simulate(scene, frames=60)
        out.append(Case(scene, tr.traj, tr.contacts, f"seed {seed}"))
    return out


class TruthPlusOffset(Predictor):
    """Answers the true next frame (looked up by target index) moved by `dx` px in x."""

    name = "truth+dx"

    def __init__(self, cases, dx: float):
        self.traj = {c.scene.to_json(): c.traj for c in cases}
        self.dx = dx

    def _predict(self, scene, windows, target_index):
        states = self.traj[scene.to_json()][target_index].astype(np.float64)
        states[..., 0] += self.dx
        return states, np.ones(states.shape[:2], bool)


class DropsEveryThird(Predictor):
    """Exact, except objects 0, 3, 6, ... come back NaN (as if their text did not parse)."""

    name = "drops"

    def __init__(self, cases):
        self.traj = {c.scene.to_json(): c.traj for c in cases}

    def _predict(self, scene, windows, target_index):
        states = self.traj[scene.to_json()][target_index].astype(np.float64)
        states[:, ::3] = np.nan
        return states, np.ones(states.shape[:2], bool)


def rollout_rows(stats, cfg=CFG):
    return {(h, k): v for h, k, v in stats.metrics(cfg.horizons)}


def test_oracle_is_exact_at_every_horizon(cases):
    oracle = load_predictor("oracle")
    single = run_single(oracle, cases, CFG).metrics()
    assert single["pos_rmse"] == single["vel_rmse"] == single["angle_rmse"] == 0.0
    assert single["energy_rel_err"] == single["momentum_rel_err"] == 0.0
    roll = run_rollouts(oracle, cases, CFG)
    assert len(roll.curve()) == 30
    assert np.all(roll.curve("pos") == 0) and np.all(roll.curve("vel") == 0) and np.all(roll.curve("ang") == 0)
    rows = rollout_rows(roll)
    assert rows[(30, "energy_rel_err")] == rows[(30, "momentum_rel_err")] == 0.0
    assert rows[(30, "divergence_step")] == 31 and rows[(30, "diverged_frac")] == 0.0


def test_oracle_answers_a_stored_quantised_truth_exactly(cases):
    # A dataset stores rounded values; the oracle is handed that truth and must still score 0.
    rounded = [Case(c.scene, np.round(c.traj, 2), c.contacts, c.label) for c in cases]
    oracle = load_predictor("oracle")
    assert run_single(oracle, rounded, CFG).metrics()["pos_rmse"] == 0.0
    assert np.all(run_rollouts(oracle, rounded, CFG).curve("pos") == 0)


def test_offset_predictor_gives_that_error(cases):
    p = TruthPlusOffset(cases, dx=3.0)
    m = run_single(p, cases, CFG).metrics()
    for key in ("pos_rmse", "pos_rmse_contact", "pos_rmse_free", "pos_rmse_onset"):
        assert m[key] == pytest.approx(3.0, abs=1e-4), key  # float32 rounding of x + 3 near x ~ 500
    assert m["vel_rmse"] == m["angle_rmse"] == 0.0 and m["parse_rate"] == 1.0
    assert m["free_exact_frac"] == 0.0  # 3 px is 30 text units off
    assert run_single(TruthPlusOffset(cases, dx=0.04), cases, CFG).metrics()["free_exact_frac"] == 1.0
    assert run_single(TruthPlusOffset(cases, dx=0.07), cases, CFG).metrics()["free_exact_frac"] == 0.0
    roll = run_rollouts(p, cases, CFG)
    assert roll.curve("pos") == pytest.approx(np.full(30, 3.0), abs=1e-4)
    rows = rollout_rows(roll)
    assert sorted(h for h, k in rows if k == "pos_rmse") == [1, 5, 10, 20, 30]
    assert rows[(30, "divergence_step")] == 31  # 3 px never exceeds 10 px


def test_nan_objects_lower_parse_rate_and_are_filled(cases):
    m = run_single(DropsEveryThird(cases), cases, CFG).metrics()
    n = np.array([c.scene.n for c in cases])
    dropped = (n + 2) // 3  # objects 0, 3, 6, ...
    assert m["parse_rate"] == pytest.approx(float((n - dropped).sum() / n.sum()))
    assert np.isfinite(m["pos_rmse"]) and m["pos_rmse"] > 0  # the constvel fill is scored, not skipped
    roll = rollout_rows(run_rollouts(DropsEveryThird(cases), cases, CFG))
    assert roll[(30, "parse_rate")] == pytest.approx(float((n - dropped).sum() / n.sum()))


def test_constvel_is_exact_in_free_flight_without_gravity():
    scene = Scene.from_dict({"gravity": [0, 0], "walls": None, "frames": 40, "objects": [
        {"shape": "circle", "radius": 5, "material": "wood", "position": [100, 100], "velocity": [30, -20]},
        {"shape": "box", "size": [10, 6], "material": "steel", "position": [300, 300], "velocity": [-15, 5],
         "angular_velocity": 1.5}]})
    tr = simulate(scene)
    assert not tr.contacts.any()
    case = Case(scene, tr.traj, tr.contacts, "free")
    cfg = EvalConfig(windows=0, horizon=30)
    m = run_single(load_predictor("baseline:constvel"), [case], cfg).metrics()
    assert m["pos_rmse"] < 1e-4 and m["vel_rmse"] < 1e-4  # float32 quantisation only
    assert run_rollouts(load_predictor("baseline:constvel"), [case], cfg).curve("pos")[-1] < 1e-3


def test_windows_are_reproducible_and_in_range():
    a = sample_targets(200, 3, 20, np.random.default_rng([0, 4]))
    b = sample_targets(200, 3, 20, np.random.default_rng([0, 4]))
    assert np.array_equal(a, b) and len(set(a.tolist())) == 20 and a.min() >= 3 and a.max() < 200
    assert np.array_equal(sample_targets(10, 3, 0, np.random.default_rng(0)), np.arange(3, 10))


def test_suites_expand_and_reject_unknown_names():
    assert expand_suites(["in_dist", "ood:all"])[:3] == ["in_dist", "ood:count_low", "ood:count_high"]
    assert len(expand_suites(["ood:all"])) == 8
    with pytest.raises(UserError, match="ood:zero_gravity"):
        expand_suites(["ood:moon"])


def test_generated_suites_are_deterministic():
    cfg = EvalConfig(suites=["ood:low_gravity"], scenes_per_suite=2)
    a, b = SceneSource(cfg).cases("ood:low_gravity"), SceneSource(cfg).cases("ood:low_gravity")
    assert [c.scene.to_json() for c in a] == [c.scene.to_json() for c in b]
    assert all(np.array_equal(x.traj, y.traj) for x, y in zip(a, b))
    assert a[0].scene.gravity[1] == pytest.approx(981 / 6, abs=0.01)
    from physics_llm.data.plan import split_of_seed

    assert all(split_of_seed(c.scene.seed) == "test" for c in a)  # never in a dataset's train split
