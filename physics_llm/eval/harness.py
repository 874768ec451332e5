"""`evaluate(cfg, out_dir)`: every model over every suite, single step and rollout, then the report.

Order: the suite's scenes are read or simulated once, then each model runs on them,
so memory holds one suite at a time and the ground truth is shared by all models.
Everything the user named (models, suites, files, dataset) is checked before any
scene is simulated.

With cfg.save_rollouts every rollout is written as it is scored (RolloutWriter):

    REPORT_DIR/rollouts/<suite>/<model>/<scene index, 4 digits>.npz
    REPORT_DIR/rollouts/index.csv      suite,model,scene,label,start,frames,file

<suite> and <model> are slug()s of the names (ood:count_low -> ood_count_low,
gpt:runs/g1 -> gpt_runs_g1; models whose slugs collide get -2, -3, ...); the scene index
is the scene's position in its suite. Each .npz (np.savez, no pickled objects, so
np.load(path, allow_pickle=False) reads it) holds pred and truth (H, N, 6) float32: the
predicted frames and the true frames they stand for, exactly what the rollout metrics
are computed from; parsed (H, N) bool; start (int64, the index of the first predicted
frame in the scene's trajectory); model (the spec), scene (the scene JSON) and label
(where the scene came from) as numpy unicode strings.

evaluate(..., progress=f) calls f(EvalProgress) as the work advances (nothing else changes: the
report is the same with or without it): at the start (0 done), while a suite's scenes are read or
simulated, after each scene's single step, after every rollout step and once per scored rollout batch.
A unit is one scene of one model: done once its rollout is scored; total = models x the suites' scenes.
"""

from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from physics_llm.errors import UserError
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.runner import run_rollouts, run_single
from physics_llm.eval.suites import SceneSource
from physics_llm.models.base import Predictor


@dataclass
class EvalResult:
    """What the report is made of. rows: (model, suite, mode, horizon, metric, value)."""

    models: list[str]
    suites: list[str]
    n_scenes: dict[str, int] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # suite -> where its scenes came from
    rows: list[tuple[str, str, str, int, str, float]] = field(default_factory=list)
    curves: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)  # (model, suite) -> (H,) pos RMSE
    # suite -> {"truth" | model: (energy (T,), momentum (T, 2))} of the suite's first scene
    conservation: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    conservation_label: dict[str, str] = field(default_factory=dict)
    gifs: list[tuple[str, str, str, str]] = field(default_factory=list)  # (suite, model, scene label, file name)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalProgress:
    """Where an evaluation is: `done` of `total` (model, scene) pairs have their rollout scored."""

    done: int
    total: int
    suite: str
    model: str  # "" while the suite's scenes are read or simulated
    phase: str  # "start", "simulate", "single", "rollout" or "done"
    scenes: int = 0  # single: the suite's scenes done for this model; rollout: scenes scored before this batch
    of: int = 0  # the suite's scenes
    step: int = 0  # rollout: step `step` of `steps` of the batch after `scenes`
    steps: int = 0
    batch: int = 0  # rollout: scenes in that batch

    def line(self) -> str:
        """One line such as `progress: 37/160 scenes (in_dist, gpt:x, rollout scenes 9-16, step 40/100)`."""
        where = {"start": "loading", "done": "done"}.get(self.phase)
        if where is None:
            if self.phase == "simulate":
                what = "reading/simulating its scenes"
            elif self.phase == "single":
                what = f"single step {self.scenes}/{self.of} scenes"
            elif self.steps:
                what = f"rollout scenes {self.scenes + 1}-{self.scenes + self.batch}, step {self.step}/{self.steps}"
            else:
                what = f"rollout {self.scenes}/{self.of} scenes"
            where = ", ".join(x for x in (self.suite, self.model, what) if x)
        return f"progress: {self.done}/{self.total} scenes ({where})"


def load_predictors(cfg: EvalConfig) -> list[Predictor]:
    from physics_llm.models.registry import load_predictor

    specs = cfg.model_specs()
    if not specs:
        raise UserError("no models to evaluate: pass --model SPEC (e.g. --model baseline:constvel)")
    out = []
    for spec in specs:
        try:
            p = load_predictor(spec)
        except OSError as e:  # a checkpoint or model file that is missing or unreadable
            raise UserError(f"--model {spec}: cannot load it ({e})") from None
        if p.context > cfg.context:
            raise UserError(f"--model {spec} reads {p.context} context frames; pass --context {p.context} or more")
        out.append(p)
    return out


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


def unique_slugs(names: list[str]) -> dict[str, str]:
    """name -> slug(name), with -2, -3, ... added where two names would get the same slug."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in dict.fromkeys(names):
        base = slug(name) or "_"
        s, k = base, 1
        while s in taken:
            k += 1
            s = f"{base}-{k}"
        taken.add(s)
        out[name] = s
    return out


class RolloutWriter:
    """Writes each scored rollout to REPORT_DIR/rollouts/ (module docstring) and the index.csv."""

    INDEX_COLUMNS = ("suite", "model", "scene", "label", "start", "frames", "file")

    def __init__(self, out_dir: str | Path, models: list[str], suites: list[str]):
        self.root = Path(out_dir) / "rollouts"
        self.models, self.suites = unique_slugs(models), unique_slugs(suites)
        self.index: list[tuple] = []
        self.seconds = 0.0

    def saver(self, suite: str, model: str, cases):
        """The run_rollouts `save` callback for one model on one suite's cases."""
        folder = self.root / self.suites[suite] / self.models[model]

        def save(i: int, first: int, pred: np.ndarray, truth: np.ndarray, parsed: np.ndarray) -> None:
            t0 = time.perf_counter()
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{i:04d}.npz"
            np.savez(path, pred=np.asarray(pred, np.float32), truth=np.asarray(truth, np.float32),
                     parsed=np.asarray(parsed, bool), start=np.int64(first), model=np.str_(model),
                     scene=np.str_(cases[i].scene.to_json()), label=np.str_(cases[i].label))
            self.index.append((suite, model, i, cases[i].label, first, len(pred),
                               path.relative_to(self.root).as_posix()))
            self.seconds += time.perf_counter() - t0

        return save

    def write_index(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "index.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(self.INDEX_COLUMNS)
            w.writerows(self.index)
        return path


def evaluate(cfg: EvalConfig, out_dir: str | Path, log: Callable[[str], None] | None = None,
             progress: Callable[[EvalProgress], None] | None = None) -> EvalResult:
    """Run the evaluation and write GIFs into out_dir (the report files are written by report.py).
    progress: called with an EvalProgress as the work advances (module docstring); optional."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    t_start = time.perf_counter()
    predictors = load_predictors(cfg)
    source = SceneSource(cfg)
    res = EvalResult(models=[p.name for p in predictors], suites=source.suites)
    tm = {"simulate_s": 0.0, "single_s": 0.0, "rollout_s": 0.0, "predict_s": 0.0, "gif_s": 0.0}
    writer = RolloutWriter(out_dir, res.models, res.suites) if cfg.save_rollouts else None
    report = progress or (lambda p: None)
    total = len(predictors) * sum(len(source._lengths(s)) for s in source.suites) if progress else 0
    done = 0
    report(EvalProgress(0, total, "", "", "start"))
    for si, suite in enumerate(source.suites):
        t0 = time.perf_counter()
        report(EvalProgress(done, total, suite, "", "simulate"))
        cases = source.cases(suite)
        tm["simulate_s"] += time.perf_counter() - t0
        res.n_scenes[suite] = len(cases)
        res.sources[suite] = source.describe(suite)
        log(f"{suite}: {len(cases)} scenes ({time.perf_counter() - t0:.1f} s to read/simulate)")
        gifs_here = cfg.gifs if si == 0 else 0
        for p in predictors:
            t0 = time.perf_counter()
            single = run_single(p, cases, cfg, progress=_ticker(report, done, total, suite, p.name, "single",
                                                                 len(cases), cfg.rollout_batch) if progress else None)
            t1 = time.perf_counter()
            roll = run_rollouts(p, cases, cfg, keep=max(gifs_here, 1 if cfg.plots else 0),
                                save=writer.saver(suite, p.name, cases) if writer else None,
                                progress=_ticker(report, done, total, suite, p.name, "rollout", len(cases),
                                                 cfg.rollout_batch) if progress else None)
            t2 = time.perf_counter()
            done += len(cases)
            tm["single_s"] += t1 - t0
            tm["rollout_s"] += t2 - t1
            tm["predict_s"] += single.seconds + roll.seconds
            sm = single.metrics()
            res.rows += [(p.name, suite, "single", 1, k, v) for k, v in sm.items()]
            res.rows += [(p.name, suite, "rollout", h, k, v) for h, k, v in roll.metrics(cfg.horizons)]
            res.curves[(p.name, suite)] = roll.curve("pos")
            log(f"  {p.name}: single pos_rmse {sm['pos_rmse']:.4g} px ({t1 - t0:.1f} s), "
                f"rollout {t2 - t1:.1f} s")
            if cfg.plots and roll.kept:
                _keep_conservation(res, suite, cases, roll.kept[0], p.name)
            t0 = time.perf_counter()
            for r in roll.kept[:gifs_here]:
                res.gifs.append(_write_gif(out_dir, suite, p.name, cases[r.case_index], r, cfg))
            tm["gif_s"] += time.perf_counter() - t0
    if writer is not None:
        writer.write_index()
        tm["save_rollouts_s"] = writer.seconds
        log(f"rollouts: {len(writer.index)} files under {writer.root.name}/ ({writer.seconds:.1f} s)")
    tm["total_s"] = time.perf_counter() - t_start
    res.timings = tm
    report(EvalProgress(done, total, "", "", "done"))
    return res


def _ticker(report, before: int, total: int, suite: str, model: str, phase: str, n: int, batch: int):
    """A runner progress callback that reports EvalProgress for one (suite, model) run's phase."""

    def tick(scenes: int, step: int, steps: int) -> None:
        scored = before + scenes if phase == "rollout" else before
        report(EvalProgress(scored, total, suite, model, phase, scenes, n, step, steps,
                            min(batch, n - scenes) if steps else 0))

    return tick


def _keep_conservation(res: EvalResult, suite: str, cases, r, model: str) -> None:
    from physics_llm.sim.physics import energy, momentum

    case = cases[r.case_index]
    scene = case.scene
    truth = case.traj[r.start:r.start + len(r.pred)]
    curves = res.conservation.setdefault(suite, {})
    if "truth" not in curves:
        curves["truth"] = (energy(scene, truth)["total"], momentum(scene, truth))
        res.conservation_label[suite] = case.label
    curves[model] = (energy(scene, r.pred)["total"], momentum(scene, r.pred))


def _write_gif(out_dir, suite: str, model: str, case, r, cfg: EvalConfig) -> tuple[str, str, str, str]:
    from physics_llm.gifs import write_comparison_gif

    name = f"rollout_{slug(suite)}_{r.case_index}_{slug(model)}.{cfg.video}"
    truth = case.traj[r.start:r.start + len(r.pred)]
    write_comparison_gif(case.scene, truth, r.pred, Path(out_dir) / name, parsed=r.parsed,
                         start_frame=r.start, title=f"{model} ({suite} {case.label})", fps=cfg.gif_fps)
    return suite, model, case.label, name
