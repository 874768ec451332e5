"""The evaluation report files (docs/DESIGN.md "Evaluation outputs"): metrics.csv, report.md, config.yaml.

metrics.csv is long format, one number a row: model,suite,mode,horizon,metric,value.
Single-step rows have horizon 1. Rollout rows of per-step errors (pos/vel/angle_rmse)
have the step they were measured at; whole-rollout values (parse_rate, energy and
momentum curve errors, divergence, plausibility, speed) have the rollout's last step.
Plausibility rows (escaped_frac, overlap_px) come with truth_escaped_frac and
truth_overlap_px: the same measures of the true frames, the reference.
report.md turns the same rows into pandas tables, one section per suite, every model
beside the baselines, the best value of each column in bold.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from physics_llm.config import save_config
from physics_llm.eval.config import EvalConfig
from physics_llm.eval.harness import EvalResult, slug

COLUMNS = ("model", "suite", "mode", "horizon", "metric", "value")
HIGHER_IS_BETTER = {"parse_rate", "divergence_step", "free_exact_frac"}
# facts about the scenes, not the model
NOT_RANKED = {"contact_frac", "onset_frac", "n_frames", "truth_escaped_frac", "truth_overlap_px"}
UNRANKED_MODELS = {"oracle"}  # the simulator itself: exact by construction, so it is not ranked

SINGLE_COLS = ["pos_rmse", "vel_rmse", "angle_rmse", "parse_rate", "vel_median", "vel_p90", "vel_p99",
               "pos_rmse_onset", "vel_rmse_onset", "energy_rel_err", "momentum_rel_err", "sec_per_frame"]
CONTACT_COLS = ["pos_rmse_contact", "pos_rmse_free", "vel_rmse_contact", "vel_rmse_free", "free_exact_frac",
                "parse_rate"]
ROLLOUT_WHOLE = ["parse_rate", "energy_rel_err", "momentum_rel_err", "divergence_step", "diverged_frac",
                 "escaped_frac", "overlap_px", "sec_per_frame"]
TRUTH_REFERENCE = [("escaped_frac", "truth_escaped_frac", ""), ("overlap_px", "truth_overlap_px", " px")]


def write_metrics_csv(rows: list[tuple], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for model, suite, mode, horizon, metric, value in rows:
            w.writerow([model, suite, mode, int(horizon), metric, f"{float(value):.9g}"])


def fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}"


def markdown_table(df, bold_best: bool = True) -> str:
    """A pandas DataFrame (index = model) as a markdown table; the best value of each column in bold.

    A column's metric is read from its name up to '@'; lower is better except HIGHER_IS_BETTER.
    """
    header = "| " + " | ".join([df.index.name or ""] + [str(c) for c in df.columns]) + " |"
    lines = [header, "|" + "---|" * (len(df.columns) + 1)]
    best = {}
    ranked = [m for m in df.index if m not in UNRANKED_MODELS]
    for col in df.columns:
        metric = str(col).split("@")[0].split(" ")[0]
        vals = df.loc[ranked, col].dropna() if ranked else df[col].iloc[:0]
        if bold_best and metric not in NOT_RANKED and vals.nunique() > 1:
            best[col] = vals.max() if metric in HIGHER_IS_BETTER else vals.min()
    for model, row in df.iterrows():
        cells = [f"`{model}`"]
        for col in df.columns:
            v = row[col]
            s = fmt(v)
            if col in best and model not in UNRANKED_MODELS and v == best[col]:
                s = f"**{s}**"
            cells.append(s)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _frame(rows: list[tuple]):
    import pandas as pd

    return pd.DataFrame(rows, columns=list(COLUMNS))


def _table(df, models: list[str], suite: str, mode: str, wanted: list[tuple[str, int | None, str]]):
    """Rows = models; columns (metric, horizon or None for any, column title)."""
    import pandas as pd

    sub = df[(df.suite == suite) & (df["mode"] == mode)]
    out = pd.DataFrame(index=pd.Index(models, name="model"))
    for metric, horizon, title in wanted:
        sel = sub[sub.metric == metric]
        if horizon is not None:
            sel = sel[sel.horizon == horizon]
        if len(sel):
            out[title] = sel.set_index("model")["value"].reindex(models)
    return out


def render_report(res: EvalResult, cfg: EvalConfig, plots: dict[str, list[str]]) -> str:
    """report.md text. plots: suite -> PNG file names."""
    df = _frame(res.rows)
    models = res.models
    last = {s: int(df[(df.suite == s) & (df["mode"] == "rollout") & (df.metric == "parse_rate")].horizon.max())
            for s in res.suites}
    out = ["# Evaluation report", ""]
    out.append("Models: " + ", ".join(f"`{m}`" for m in models) + ".  ")
    out.append("Suites: " + ", ".join(f"{s} ({res.n_scenes[s]} scenes)" for s in res.suites) + ".  ")
    out.append(f"Single step: {cfg.context} true frames in, the next out, "
               f"{'every window' if cfg.windows == 0 else f'{cfg.windows} sampled windows'} per scene. "
               f"Rollout: {cfg.context} true frames from frame {cfg.rollout_start}, then up to {cfg.horizon} "
               "predicted frames, each fed back as context.  ")
    out.append("Config: [config.yaml](config.yaml); every number: [metrics.csv](metrics.csv). "
               "Best value of each column in **bold** (`oracle` is the simulator itself and is not ranked). "
               "Definitions at the end.")
    out += ["", "## Overview", ""]
    out += ["Single-step position RMSE (px):", "",
            markdown_table(_pivot(df, models, res.suites, "single", "pos_rmse", None)), ""]
    steps = (f"step {last[res.suites[0]]}" if len(set(last.values())) == 1 else
             "the last step of each suite's rollout (" + ", ".join(f"{s}: {last[s]}" for s in res.suites) + ")")
    out += [f"Rollout position RMSE (px) at {steps}:", "",
            markdown_table(_pivot(df, models, res.suites, "rollout", "pos_rmse", last)), ""]
    out += ["Single-step parse rate:", "",
            markdown_table(_pivot(df, models, res.suites, "single", "parse_rate", None)), ""]
    for suite in res.suites:
        H = last[suite]
        out += [f"## {suite} ({res.n_scenes[suite]} scenes)", "", f"Scenes: {res.sources[suite]}.", "",
                "Summary:", ""]
        mid = 10 if H > 10 else 1
        out.append(markdown_table(_table(df, models, suite, "single", [
            ("pos_rmse", None, "pos_rmse"), ("vel_rmse", None, "vel_rmse"), ("angle_rmse", None, "angle_rmse"),
            ("parse_rate", None, "parse_rate")]).join(_table(df, models, suite, "rollout", [
                ("pos_rmse", mid, f"rollout pos_rmse@{mid}"), ("pos_rmse", H, f"rollout pos_rmse@{H}"),
                ("energy_rel_err", H, "rollout energy_rel_err"), ("momentum_rel_err", H, "rollout momentum_rel_err"),
                ("divergence_step", H, "divergence_step")]))))
        out += ["", "Single step:", "",
                markdown_table(_table(df, models, suite, "single", [(m, None, m) for m in SINGLE_COLS])), ""]
        facts = df[(df.suite == suite) & (df["mode"] == "single")].set_index(["model", "metric"])["value"]
        m0 = models[0]
        out += [f"Contact vs free flight (single step; {facts[(m0, 'contact_frac')]:.1%} of object-steps touch "
                f"something, {facts[(m0, 'onset_frac')]:.2%} are collision onsets):", "",
                markdown_table(_table(df, models, suite, "single", [(m, None, m) for m in CONTACT_COLS])), ""]
        hs = sorted(set(df[(df.suite == suite) & (df["mode"] == "rollout") & (df.metric == "pos_rmse")].horizon))
        wanted = [("pos_rmse", h, f"pos_rmse@{h}") for h in hs]
        wanted += [("vel_rmse", H, f"vel_rmse@{H}"), ("angle_rmse", H, f"angle_rmse@{H}")]
        wanted += [(m, H, m) for m in ROLLOUT_WHOLE]
        out += ["Rollout (errors at each step after the context):", "",
                markdown_table(_table(df, models, suite, "rollout", wanted)), ""]
        ref = _truth_reference(df, suite)
        if ref:
            out += [f"Plausibility of the true frames over the same steps (the reference): {ref}.", ""]
        for png in plots.get(suite, []):
            out += [f"![{png}]({png})", ""]
        gifs = [g for g in res.gifs if g[0] == suite]
        if gifs:
            from physics_llm.gifs import VIDEO_NAMES

            head = f"Rollout {VIDEO_NAMES[cfg.video]} (truth green, prediction blue, overlay with red error lines):"
            out += [head, ""]
            out += [f"- [{model} on {label}]({name})" for _, model, label, name in gifs]
            out.append("")
    out += ["## Definitions", ""] + _definitions(cfg)
    return "\n".join(out) + "\n"


def _pivot(df, models, suites, mode, metric, horizon_by_suite):
    import pandas as pd

    out = pd.DataFrame(index=pd.Index(models, name="model"))
    for s in suites:
        sel = df[(df.suite == s) & (df["mode"] == mode) & (df.metric == metric)]
        if horizon_by_suite is not None:
            sel = sel[sel.horizon == horizon_by_suite[s]]
        out[s] = sel.set_index("model")["value"].reindex(models)
    return out


def _truth_reference(df, suite: str) -> str:
    """'escaped_frac 0, overlap_px 0.0123 px' of the truth (the same in every model's rows)."""
    sub = df[(df.suite == suite) & (df["mode"] == "rollout")]
    parts = []
    for name, metric, unit in TRUTH_REFERENCE:
        vals = sub[sub.metric == metric]["value"]
        if len(vals):
            parts.append(f"{name} {fmt(float(vals.iloc[0]))}{unit}")
    return ", ".join(parts)


def _definitions(cfg: EvalConfig) -> list[str]:
    return [
        "- pos_rmse = sqrt(mean(dx^2 + dy^2)) over objects and predicted frames (px); vel_rmse likewise (px/s); "
        "angle_rmse with the difference wrapped to (-pi, pi] (rad).",
        "- *_contact / *_free: object-steps the simulator flags as touching anything during the step, or not. "
        "free_exact_frac: the share of free object-steps predicted exactly to the text's quantisation (every "
        "column within 0.6 of its unit: 0.1 px, 0.1 px/s, 0.001 rad, 0.01 rad/s).",
        f"- Collision onsets: |true velocity change - g*dt| > {cfg.onset_px_s:g} px/s. vel_median/p90/p99: "
        "percentiles of the per-object-step velocity error norm.",
        "- energy_rel_err = RMS_t(E_pred - E_true) / RMS_t(E_true), E = kinetic + potential with the potential "
        "measured from the floor (so E_true >= 0 is the energy the scene holds); momentum_rel_err likewise on "
        "the total linear momentum vector. The truth's own curve is the reference, not a constant: Pymunk loses "
        "energy and gravity and walls change momentum. A denominator below the whole mass moving at 1 px/s "
        "is replaced by that. Mean over scenes (single step: over each scene's windows).",
        f"- divergence_step: first rollout step whose position RMSE over the scene's objects exceeds "
        f"{cfg.divergence_px:g} px; median over scenes, a scene that never diverges counts as its horizon + 1. "
        "diverged_frac: scenes that diverged within the horizon.",
        "- escaped_frac: fraction of the rollout's predicted object-frames whose centre is outside the "
        "world [0, width] x [0, height] (a non-finite position counts as outside). overlap_px: mean over the "
        "same object-frames of the body's deepest penetration into another body or a wall, 0 when it overlaps "
        "nothing (px; exact minimum translation distance for circles and boxes, max(0, -surface gap) for a "
        "wall, so a body past a wall counts its whole distance beyond it and escapes dominate the mean). The "
        "truth's values over the same frames are given below each rollout table (Pymunk's contacts are soft: "
        "a few tenths of a pixel). Lower is better, but a frozen prediction (baseline:copy) scores low too: "
        "plausible is not accurate.",
        "- parse_rate: object-steps the model really produced (the rest were filled with constant velocity and "
        "still count in the errors). sec_per_frame: the predictor's own time per predicted scene frame.",
    ]


def write_report(res: EvalResult, cfg: EvalConfig, out_dir: str | Path) -> None:
    """metrics.csv, config.yaml, the PNG plots (if cfg.plots) and report.md into out_dir."""
    out = Path(out_dir)
    write_metrics_csv(res.rows, out / "metrics.csv")
    save_config(cfg, out / "config.yaml")
    plots: dict[str, list[str]] = {}
    if cfg.plots:
        from physics_llm.eval.plots import plot_conservation, plot_horizon

        for suite in res.suites:
            name = f"horizon_{slug(suite)}.png"
            plot_horizon({m: res.curves[(m, suite)] for m in res.models}, suite, out / name)
            plots[suite] = [name]
            if suite in res.conservation:
                name = f"conservation_{slug(suite)}.png"
                plot_conservation(res.conservation[suite], f"{suite} {res.conservation_label[suite]}",
                                  cfg.rollout_start, out / name)
                plots[suite].append(name)
    (out / "report.md").write_text(render_report(res, cfg, plots))
