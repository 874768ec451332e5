"""Floor impacts of held-out scenes: does a model bounce on the step the contact starts?

An impact is an object-step (target frame t) of a test scene where the object falls onto the
floor: its velocity change differs from g*dt by more than onset_px_s (a collision onset), its
vertical velocity goes from down (> 0) to up or about zero, and its lowest point is within
`near_px` of the floor in the last context frame. For each model spec this prints, over the
same impacts:

    caught    share of impacts whose predicted vertical velocity change is within half the true
              change of the truth (the bounce happened, on the right step, about the right size)
    vel_rmse  velocity RMSE at the impacts (px/s), beside the best baseline's
    p_still   (gpt: models, residual or walls encoding) the mean probability the model gives the
              "the rule is right" target (every field 0: free flight, or for walls the wall
              bounce), read by teacher forcing

    python benchmarks/probe_impacts.py --data data/ds2k --model gpt:assets/checkpoints/gpt-contact \
        [--model gpt:...?samples=4] [--scenes 40] [--limit 200]
"""

from __future__ import annotations

import argparse

import numpy as np

from physics_llm.data.store import open_dataset
from physics_llm.sim.physics import onset_mask
from physics_llm.models.registry import load_predictor
from bench_gpt_frame import parse_with_threads  # benchmarks/ is the script's directory


def find_impacts(ds, scenes: int, limit: int, context: int, onset_px_s: float, near_px: float) -> list:
    """[(scene, window (1, C, N, 6), truth (1, N, 6), object)] floor impacts of the first scenes."""
    from physics_llm.sim.geometry import wall_gaps

    out = []
    for s in range(min(scenes, len(ds))):
        scene, tr = ds[s]
        traj = tr.traj
        onset = onset_mask(traj[context - 1:-1], traj[context:], scene.gravity, scene.dt, onset_px_s)  # (T-C, N)
        for k, i in zip(*np.nonzero(onset)):
            t = int(k) + context
            before, after = traj[t - 1, i], traj[t, i]
            gap = wall_gaps(scene, traj[t - 1][None].astype(np.float64))[0, i, 3]
            if before[3] > 0 and after[3] < 0.2 * before[3] and gap <= near_px:
                out.append((scene, traj[None, t - context:t], traj[None, t], int(i)))
            if len(out) >= limit:
                return out
    return out


def p_still(predictor, impacts) -> float:
    """Mean probability of the all-zero target line (teacher forcing), or NaN if not a gpt: model."""
    import torch

    from physics_llm.text import build_prompts

    model, tok, fmt = (getattr(predictor, k, None) for k in ("model", "tok", "fmt"))
    if model is None or not hasattr(tok, "vocab") or fmt.encoding not in ("residual", "walls"):
        return float("nan")
    probs = []
    with torch.no_grad():
        for scene, window, _, i in impacts:
            prompt = build_prompts(scene, window, fmt)[0][i]
            p = tok.encode(prompt, bos=True)
            t = tok.encode(f"o{i} 0 0 0 0 0 0\n", eos=True)
            idx = torch.tensor([p + t[:-1]])
            logits, _ = model(idx)
            logp = torch.log_softmax(logits[0, len(p) - 1:], dim=-1)
            probs.append(float(torch.exp(logp[torch.arange(len(t)), torch.tensor(t)].sum())))
    return float(np.mean(probs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--context", type=int, default=3)
    ap.add_argument("--near-px", type=float, default=12.0)
    args = parse_with_threads(ap)
    ds = open_dataset(args.data, args.split)
    impacts = find_impacts(ds, args.scenes, args.limit, args.context, 50.0, args.near_px)
    print(f"{len(impacts)} floor impacts in the first {args.scenes} {args.split} scenes of {args.data}")
    print(f"{'model':60s} {'caught':>7s} {'vel_rmse':>9s} {'p_still':>8s}")
    for spec in ["baseline:constvel", "baseline:ballistic", "baseline:walls"] + args.model:
        pred = load_predictor(spec)
        outs = pred.predict_many([(scene, w, None) for scene, w, _, _ in impacts])
        got = np.array([o.states[0, i] for o, (_, _, _, i) in zip(outs, impacts)], dtype=np.float64)
        true = np.array([tr[0, i] for _, _, tr, i in impacts], dtype=np.float64)
        before = np.array([w[0, -1, i] for _, w, _, i in impacts], dtype=np.float64)
        dv_true, dv_pred = true[:, 3] - before[:, 3], got[:, 3] - before[:, 3]
        caught = np.abs(dv_pred - dv_true) <= 0.5 * np.abs(dv_true)
        vel = np.sqrt(np.nanmean(((got[:, 2:4] - true[:, 2:4]) ** 2).sum(-1)))
        print(f"{spec:60s} {caught.mean():7.1%} {vel:9.1f} {p_still(pred, impacts):8.3f}")


if __name__ == "__main__":
    main()
