"""Single-step and rollout runs of one predictor over one suite's cases, and their metrics.

Single step: per scene, `windows` target frames t (sampled reproducibly), each with the
true frames t-C .. t-1 as context; all of a scene's windows go to one predict() call.
Rollout: from the true frames s .. s+C-1 every prediction becomes context, for H steps
(H = horizon capped by the scene's length); `rollout_batch` scenes advance in lockstep,
one predict_many() call per step, so models that batch across scenes can (models/rollout.py,
the loop the app's model worker runs too).

Rollouts are also judged for plausibility (metrics.py): escaped_frac and overlap_px of the
predicted frames, and of the true frames they stand for (truth_escaped_frac,
truth_overlap_px: the reference, the same for every model).

Predictors that can answer from the ground truth (the oracle's `use_truth`) are handed
it before they predict, so the oracle scores exactly 0 and simulates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from physics_llm.eval import metrics as M
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.suites import Case
from physics_llm.models.base import Predictor
from physics_llm.models.rollout import Rollouts


def sample_targets(frames: int, context: int, windows: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted target frames in [context, frames): `windows` of them without replacement (0 = all)."""
    candidates = np.arange(context, frames)
    if windows == 0 or windows >= len(candidates):
        return candidates
    return np.sort(rng.choice(candidates, size=windows, replace=False))


def _give_truth(predictor: Predictor, cases: list[Case]) -> None:
    use_truth = getattr(predictor, "use_truth", None)
    if use_truth is not None:
        use_truth([(c.scene, c.traj) for c in cases])


@dataclass
class SingleStats:
    """Per object-step errors of single-step predictions, pooled over a suite's scenes."""

    pos_sq: list = field(default_factory=list)  # arrays (B*N,) squared position error
    vel: list = field(default_factory=list)  # (B*N,) velocity error norm
    ang: list = field(default_factory=list)  # (B*N,) wrapped angle error
    contact: list = field(default_factory=list)  # (B*N,) simulator contact flag of the step
    onset: list = field(default_factory=list)  # (B*N,) collision onset
    exact: list = field(default_factory=list)  # (B*N,) every column within M.EXACT_UNITS of the truth
    parsed: list = field(default_factory=list)  # (B*N,)
    energy: list = field(default_factory=list)  # per scene energy_rel_err over its windows
    momentum: list = field(default_factory=list)
    seconds: float = 0.0
    frames: int = 0

    def metrics(self) -> dict[str, float]:
        cat = {k: np.concatenate(getattr(self, k))
               for k in ("pos_sq", "vel", "ang", "contact", "onset", "parsed", "exact")}
        c, o = cat["contact"], cat["onset"]
        median, p90, p99 = M.vel_quantiles(cat["vel"])
        return {
            "pos_rmse": M.root_mean(cat["pos_sq"]),
            "vel_rmse": M.rms(cat["vel"]),
            "angle_rmse": M.rms(cat["ang"]),
            "parse_rate": M.parse_rate(cat["parsed"]),
            "pos_rmse_contact": M.root_mean(cat["pos_sq"], c),
            "pos_rmse_free": M.root_mean(cat["pos_sq"], ~c),
            "vel_rmse_contact": M.rms(cat["vel"], c),
            "vel_rmse_free": M.rms(cat["vel"], ~c),
            "free_exact_frac": float(cat["exact"][~c].mean()) if (~c).any() else float("nan"),
            "contact_frac": float(c.mean()),
            "vel_median": median,
            "vel_p90": p90,
            "vel_p99": p99,
            "pos_rmse_onset": M.root_mean(cat["pos_sq"], o),
            "vel_rmse_onset": M.rms(cat["vel"], o),
            "onset_frac": float(o.mean()),
            "energy_rel_err": float(np.mean(self.energy)),
            "momentum_rel_err": float(np.mean(self.momentum)),
            "sec_per_frame": self.seconds / self.frames,
            "n_frames": float(self.frames),
        }


Progress = Callable[[int, int, int], None]
"""progress(scenes, step, steps): `scenes` of the run's cases are finished; during a rollout batch (scenes
`scenes`+1 .. `scenes`+batch advancing in lockstep) `step` of its `steps` are done, else step = steps = 0."""


def run_single(predictor: Predictor, cases: list[Case], cfg: EvalConfig,
               progress: Progress | None = None) -> SingleStats:
    """Single-step predictions of every case; progress(i, 0, 0) after the i-th case, if given."""
    st = SingleStats()
    C = cfg.context
    for i, case in enumerate(cases):
        _give_truth(predictor, [case])
        scene, traj = case.scene, case.traj
        targets = sample_targets(len(traj), C, cfg.windows, np.random.default_rng([cfg.seed, i]))
        windows = traj[targets[:, None] + np.arange(-C, 0)]  # (B, C, N, 6)
        pred = predictor.predict(scene, windows, targets)
        true, prev = traj[targets], traj[targets - 1]  # (B, N, 6)
        st.pos_sq.append(M.pos_sq_err(pred.states, true).ravel())
        st.vel.append(M.vel_err(pred.states, true).ravel())
        st.ang.append(M.angle_err(pred.states, true).ravel())
        st.contact.append(case.contacts[targets - 1].ravel())
        st.onset.append(M.onset_mask(prev, true, scene.gravity, scene.dt, cfg.onset_px_s).ravel())
        st.parsed.append(pred.parsed.ravel())
        st.exact.append(M.exact(pred.states, true).ravel())
        st.energy.append(M.energy_rel_err(scene, pred.states, true))
        st.momentum.append(M.momentum_rel_err(scene, pred.states, true))
        st.seconds += pred.seconds
        st.frames += len(targets)
        if progress is not None:
            progress(i + 1, 0, 0)
    return st


@dataclass
class Rollout:
    """One scene's rollout: frames s .. s+C+H-1, the first C of them the true context."""

    case_index: int
    start: int
    pred: np.ndarray  # (C+H, N, 6)
    parsed: np.ndarray  # (C+H, N) bool; True on the context frames


@dataclass
class RolloutStats:
    """Per-step error sums over a suite's rollouts (step k = k+1 frames after the context)."""

    horizon: int
    pos_sq: np.ndarray = field(init=False)  # (H,) squared errors summed over scenes and objects
    vel_sq: np.ndarray = field(init=False)
    ang_sq: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)  # (H,) objects (over scenes) whose rollout reached the step
    parsed: int = 0
    escaped: int = 0  # object-frames outside the world, summed over scenes
    overlap: float = 0.0  # per object-frame deepest penetration (px), summed over scenes
    truth_escaped: int = 0  # the same of the true frames
    truth_overlap: float = 0.0
    energy: list = field(default_factory=list)  # per scene
    momentum: list = field(default_factory=list)
    divergence: list = field(default_factory=list)  # per scene, 1-based step; H_scene + 1 = never
    diverged: list = field(default_factory=list)  # per scene bool
    seconds: float = 0.0
    frames: int = 0
    kept: list = field(default_factory=list)  # Rollout of the first `keep` scenes

    def __post_init__(self):
        for k in ("pos_sq", "vel_sq", "ang_sq", "count"):
            setattr(self, k, np.zeros(self.horizon))

    def curve(self, which: str = "pos") -> np.ndarray:
        """(H_reached,) pooled RMSE per step."""
        n = int(np.count_nonzero(self.count))
        return np.sqrt(getattr(self, f"{which}_sq")[:n] / self.count[:n])

    def metrics(self, horizons: list[int]) -> list[tuple[int, str, float]]:
        """(horizon, metric, value) rows: per-step errors at each horizon reached, and whole-rollout
        values (parse rate, speed, energy/momentum curve errors, divergence) at the last step."""
        pos, vel, ang = self.curve("pos"), self.curve("vel"), self.curve("ang")
        last = len(pos)
        steps = sorted({h for h in horizons if h <= last} | {last})
        rows = []
        for h in steps:
            rows += [(h, "pos_rmse", float(pos[h - 1])), (h, "vel_rmse", float(vel[h - 1])),
                     (h, "angle_rmse", float(ang[h - 1]))]
        div = np.asarray(self.divergence, np.float64)
        n = self.count.sum()
        rows += [
            (last, "parse_rate", self.parsed / n),
            (last, "escaped_frac", self.escaped / n),
            (last, "overlap_px", self.overlap / n),
            (last, "truth_escaped_frac", self.truth_escaped / n),
            (last, "truth_overlap_px", self.truth_overlap / n),
            (last, "energy_rel_err", float(np.mean(self.energy))),
            (last, "momentum_rel_err", float(np.mean(self.momentum))),
            (last, "divergence_step", float(np.median(div))),
            (last, "diverged_frac", float(np.mean(self.diverged))),
            (last, "sec_per_frame", self.seconds / self.frames),
            (last, "n_frames", float(self.frames)),
        ]
        return rows


SaveRollout = Callable[[int, int, np.ndarray, np.ndarray, np.ndarray], None]


def run_rollouts(predictor: Predictor, cases: list[Case], cfg: EvalConfig, keep: int = 0,
                 save: SaveRollout | None = None, progress: Progress | None = None) -> RolloutStats:
    """Roll every case out; keep the predicted frames of the first `keep` cases (for GIFs and plots).

    save(case_index, first, pred (H, N, 6), truth (H, N, 6), parsed (H, N)), if given, is called
    once per case with exactly the frames its metrics are computed from (first = the index of the
    first predicted frame).

    progress (a Progress), if given, is called after every step of a batch and once each batch is scored.
    """
    C, s = cfg.context, cfg.rollout_start
    lengths = [min(cfg.horizon, len(c.traj) - s - C) for c in cases]
    st = RolloutStats(horizon=max(lengths))
    for lo in range(0, len(cases), cfg.rollout_batch):
        chunk = list(range(lo, min(lo + cfg.rollout_batch, len(cases))))
        _give_truth(predictor, [cases[i] for i in chunk])
        preds = {i: np.empty((lengths[i],) + cases[i].traj.shape[1:], np.float32) for i in chunk}
        parsed = {i: np.empty((lengths[i], cases[i].scene.n), bool) for i in chunk}
        rollouts = Rollouts(predictor, [(cases[i].scene, cases[i].traj[s:s + C], s + C, lengths[i]) for i in chunk])
        for k, outs in enumerate(rollouts):
            for j, out in outs:
                i = chunk[j]
                preds[i][k], parsed[i][k] = out.states[0], out.parsed[0]
                st.seconds += out.seconds
            if progress is not None:
                progress(lo, k + 1, rollouts.total)
        for i in chunk:
            true = _score(st, cases[i], preds[i], parsed[i], s + C, cfg.divergence_px)
            if save is not None:
                save(i, s + C, preds[i], true, parsed[i])
            if i < keep:
                ctx = cases[i].traj[s:s + C]
                st.kept.append(Rollout(i, s, np.concatenate([ctx, preds[i]]),
                                       np.concatenate([np.ones(ctx.shape[:2], bool), parsed[i]])))
        if progress is not None:
            progress(chunk[-1] + 1, 0, 0)
    return st


def _score(st: RolloutStats, case: Case, pred: np.ndarray, parsed: np.ndarray, first: int,
           threshold: float) -> np.ndarray:
    """Add one scene's rollout pred (H, N, 6), predicting frames first .. first+H-1, to the sums;
    returns the true frames (H, N, 6) it was scored against."""
    H = len(pred)
    true = case.traj[first:first + H]
    pos_sq = M.pos_sq_err(pred, true)  # (H, N)
    st.pos_sq[:H] += pos_sq.sum(1)
    st.vel_sq[:H] += (M.vel_err(pred, true) ** 2).sum(1)
    st.ang_sq[:H] += (M.angle_err(pred, true) ** 2).sum(1)
    st.count[:H] += case.scene.n
    st.parsed += int(parsed.sum())
    st.escaped += int(M.escaped(case.scene, pred).sum())
    st.overlap += float(M.penetration(case.scene, pred).sum())
    st.truth_escaped += int(M.escaped(case.scene, true).sum())
    st.truth_overlap += float(M.penetration(case.scene, true).sum())
    st.energy.append(M.energy_rel_err(case.scene, pred, true))
    st.momentum.append(M.momentum_rel_err(case.scene, pred, true))
    step = M.divergence_step(np.sqrt(pos_sq.mean(1)), threshold)
    st.divergence.append(step)
    st.diverged.append(step <= H)
    st.frames += H
    return true
