"""Dataset split -> tokenised training examples: which object-steps, how often, and as which tokens.

An example is one object-step: (scene, target frame t, object) in the object view,
(scene, t) in the scene view (one prompt per frame). Its text is the prompt of the
window traj[t-C:t] and the target for traj[t] (physics_llm.text), and its tokens

    tokens  = encode(prompt, bos=True) + encode(target, eos=True)     (L + 1,)
    idx     = tokens[:-1]                                             (L,)  model input
    targets = tokens[1:], -1 where the next token is still prompt     (L,)  loss on target + eos only

Sampling: every object-step of the split gets a global id (scene by scene, then t,
then object). Collision onsets (|v_t - v_{t-1} - g*dt| > onset_px_s, the eval's
definition) are drawn onset_weight times as often as the others: they are 1% of
object-steps but hold 82% of the velocity error (docs/DESIGN.md "Measured facts"). A batch is a pure
function of (seed, step), so a resumed run draws the same batches as an
uninterrupted one; the "sampler position" is just the step. With micro_batches > 1
micro-batch p of a step is a pure function of (seed, step, p), so torchrun's processes
draw their own parts of a global batch that does not depend on how many they are.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from physics_llm.errors import UserError
from physics_llm.sim.physics import onset_mask
from physics_llm.sim.simulate import step_from
from physics_llm.text import DigitTokenizer, TextFormat, build_prompts, format_targets

CACHE_SCENES = 256  # decoded trajectories kept: a 30-object 200-frame scene is 144 KB, a decode ~1 ms
MAX_DRAWS = 20  # draws per example slot before a batch gives up on examples longer than block_size
STREAM_TRAIN, STREAM_VAL, STREAM_WINDOWS = 0, 1, 2  # independent random streams of one seed


def step_key(seed: int, stream: int, step: int, part: int | None = None) -> list[int]:
    """The seed sequence of a step's batch, or of micro-batch `part` of it."""
    return [seed, stream, step] if part is None else [seed, stream, step, part]


def encode_example(tok: DigitTokenizer, prompt: str, target: str) -> tuple[list[int], list[int]]:
    """(prompt, target) -> (idx, targets), both length L = tokens - 1; targets -1 over the prompt."""
    p = tok.encode(prompt, bos=True)
    tokens = p + tok.encode(target, eos=True)
    targets = tokens[1:]
    return tokens[:-1], [-1] * (len(p) - 1) + targets[len(p) - 1:]


@dataclass
class Batch:
    idx: np.ndarray  # (B, T) int64 token ids, right-padded with pad_id
    targets: np.ndarray  # (B, T) int64 next-token ids, -1 = no loss (prompt, padding)
    tokens: int  # real (non-pad) input tokens


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> Batch:
    """Pad to the longest example of the batch (not block_size: object-view examples are ~220 of 384)."""
    T = max(len(i) for i, _ in examples)
    idx = np.full((len(examples), T), pad_id, dtype=np.int64)
    tgt = np.full((len(examples), T), -1, dtype=np.int64)
    for b, (i, t) in enumerate(examples):
        idx[b, :len(i)] = i
        tgt[b, :len(t)] = t
    return Batch(idx, tgt, sum(len(i) for i, _ in examples))


@dataclass(frozen=True)
class Noise:
    """Context noise (TrainConfig noise_vel, noise_pos, noise_frac), learning_to_simulate's recipe.

    With probability `frac` an example's window gets, for every object, a random walk on its
    velocities (vx, vy) over the C context frames whose last step has std `vel` px/s, integrated
    into the positions (x += cumulative velocity noise * dt), plus one shift of std `pos` px of
    all its context positions. The target (`target`):

    - "truth": the true next state, so the residual target is measured from the perturbed last
      frame and teaches the correction back to the true trajectory (learning_to_simulate). In
      free flight that is a correction of the noise, which a clean context does not need.
    - "sim": Pymunk stepped one frame from the perturbed last frame (sim.simulate.step_from):
      what physics does from the state the model sees, penetrations included. Free flight stays
      an all-zero residual, so a rollout's own errors are handled the way the simulator would.
    """

    vel: float = 0.0
    pos: float = 0.0
    frac: float = 0.5
    target: str = "truth"

    @property
    def active(self) -> bool:
        return self.frac > 0 and (self.vel > 0 or self.pos > 0)

    def apply(self, rng: np.random.Generator, windows: np.ndarray, dt: float) -> np.ndarray:
        """(B, C, N, 6) -> a perturbed float32 copy (the same array when this draw leaves it clean).

        Draws a fixed number of values per call, so the stream stays a pure function of the seed.
        """
        B, C, N, _ = windows.shape
        u = rng.random()
        steps = rng.normal(0.0, self.vel / np.sqrt(C), size=(B, C, N, 2))
        shift = rng.normal(0.0, self.pos, size=(B, 1, N, 2))
        if u >= self.frac:
            return windows
        vel = np.cumsum(steps, axis=1)
        out = windows.astype(np.float64)  # a copy: the cached trajectory stays clean
        out[..., 2:4] += vel
        out[..., 0:2] += np.cumsum(vel * dt, axis=1) + shift
        return out.astype(np.float32)


@dataclass(frozen=True)
class Unroll:
    """Pushforward (TrainGPTConfig unroll_steps, unroll_frac, unroll_start, unroll_target; LagrangeBench).

    From training step `start` on, a `frac` share of an example batch (each example drawn on its
    own) has its context made by the model itself: the true window ends `steps` frames before the
    target, the model predicts those frames one after another (greedy, no gradient, every object
    of the scene, the batch's unrolled scenes decoded together), and the prompt shows the last C
    frames of that unroll. The target (`target`): "sim", Pymunk stepped one frame from the
    model's last frame (what physics does from the state a rollout of this model reaches), or
    "truth", the true frame (steer back to the true trajectory). An unrolled example takes no
    context noise. The model's output is not trusted: an unroll that puts a body outside the world
    keeps the example's true context. Cost: one decoded frame of the whole scene per step of an
    unrolled example; unroll_frac 0.25 with 1 step took a 64-example step on one CPU thread from
    2.9 to 9-11 s (configs/train/gpt_contact_unroll.yaml beside its control).
    """

    steps: int = 0
    frac: float = 0.25
    start: int = 0
    target: str = "sim"

    @property
    def active(self) -> bool:
        return self.steps > 0 and self.frac > 0


class ExampleSampler:
    """Weighted random object-steps of one dataset split, and their tokenised examples.

    ds: physics_llm.data.store.Dataset (len(ds), ds[i] -> (Scene, Trajectory)).
    Building the index decodes every trajectory of the split once (~1 ms per scene).
    """

    def __init__(self, ds, fmt: TextFormat, tok: DigitTokenizer, block_size: int,
                 onset_weight: float, onset_px_s: float, noise: "Noise | None" = None,
                 unroll: "Unroll | None" = None, predict_many=None):
        self.ds, self.fmt, self.tok, self.block_size = ds, fmt, tok, block_size
        self.onset_weight = float(onset_weight)
        self.noise = noise if noise is not None and noise.active else None
        # unroll: Unroll, with predict_many([(scene, windows, None)]) -> [Prediction] of the model
        self.unroll = unroll if unroll is not None and unroll.active and predict_many is not None else None
        self.predict_many = predict_many
        self.unrolled = 0  # examples whose context the model made
        self.skipped = 0  # examples longer than block_size, left out
        self._cache: OrderedDict[int, tuple] = OrderedDict()
        C = fmt.context
        slots, frames, onsets = [], [], []
        start = 0
        for i in range(len(ds)):
            scene, traj = self._load(i)
            T, N = traj.shape[:2]
            k = 1 if fmt.view == "scene" else N  # examples per target frame
            if T <= C:
                slots.append(k)
                frames.append(0)
                continue
            onset = onset_mask(traj[C - 1:-1], traj[C:], scene.gravity, scene.dt, onset_px_s)  # (T-C, N)
            if fmt.view == "scene":
                onset = onset.any(axis=1, keepdims=True)
            onsets.append(start + np.flatnonzero(onset.ravel()))
            slots.append(k)
            frames.append(T - C)
            start += (T - C) * k
        self.slots = np.asarray(slots, dtype=np.int64)  # (S,) examples per frame of each scene
        self.starts = np.concatenate([[0], np.cumsum(self.slots * np.asarray(frames, dtype=np.int64))])  # (S+1,)
        self.onsets = np.concatenate(onsets) if onsets else np.zeros(0, np.int64)  # (K,) sorted global ids

    @property
    def size(self) -> int:
        """Object-steps (object view) or frames (scene view) that can be a target."""
        return int(self.starts[-1])

    def is_onset(self, ids: np.ndarray) -> np.ndarray:
        """(k,) global ids -> (k,) bool."""
        if not len(self.onsets):
            return np.zeros(len(ids), dtype=bool)
        pos = np.searchsorted(self.onsets, ids)
        return (pos < len(self.onsets)) & (self.onsets[np.minimum(pos, len(self.onsets) - 1)] == ids)

    def locate(self, g: int) -> tuple[int, int, int]:
        """Global id -> (scene index in the split, target frame t, object; 0 in the scene view)."""
        s = int(np.searchsorted(self.starts, g, side="right") - 1)
        f, obj = divmod(int(g - self.starts[s]), int(self.slots[s]))
        return s, f + self.fmt.context, obj

    def draw(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """(k,) global ids; an onset is onset_weight times as likely as any other object-step."""
        n, K = self.size, len(self.onsets)
        if n == 0:
            raise UserError(f"{self.ds.root}: the {self.ds.split} split has no frame after the first "
                            f"{self.fmt.context} context frames to learn from")
        w_on = self.onset_weight * K
        p_on = w_on / (n - K + w_on)
        on = rng.random(k) < p_on
        ids = np.empty(k, dtype=np.int64)
        ids[on] = self.onsets[rng.integers(K, size=int(on.sum()))] if K else 0
        todo = np.flatnonzero(~on)
        while len(todo):  # uniform over the others: redraw the rare hits on an onset
            cand = rng.integers(n, size=len(todo))
            ok = ~self.is_onset(cand)
            ids[todo[ok]] = cand[ok]
            todo = todo[~ok]
        return ids

    def text(self, g: int, rng: np.random.Generator | None = None) -> tuple[str, str]:
        """Global id -> (prompt, target) text; with rng and noise, of a perturbed context."""
        s, t, obj = self.locate(g)
        scene, traj = self._load(s)
        window = traj[None, t - self.fmt.context:t]  # (1, C, N, 6)
        nxt = traj[None, t]
        if rng is not None and self.noise is not None:
            clean, window = window, self.noise.apply(rng, window, scene.dt)
            if window is not clean and self.noise.target == "sim":
                nxt = step_from(scene, window[0, -1])[None]
        prompt = build_prompts(scene, window, self.fmt)[0][obj]
        return prompt, format_targets(scene, window, nxt, self.fmt)[0][obj]

    def example(self, g: int, rng: np.random.Generator | None = None) -> tuple[list[int], list[int]]:
        """Global id -> (idx, targets) of encode_example (length may exceed block_size)."""
        return encode_example(self.tok, *self.text(g, rng))

    def unrolled_examples(self, rng: np.random.Generator, ids: np.ndarray) -> dict[int, tuple[list[int], list[int]]]:
        """Unroll's share of `ids` -> {position in ids: example with the model's own context}.

        One draw per id, so the stream stays a pure function of the seed (and of the weights)."""
        u = self.unroll
        pick = rng.random(len(ids)) < u.frac
        C, todo = self.fmt.context, []
        for p in np.flatnonzero(pick):
            s, t, obj = self.locate(int(ids[p]))
            if t - u.steps - C >= 0:
                todo.append((int(p), s, t, obj))
        if not todo:
            return {}
        from physics_llm.sim.geometry import outside_world

        loaded = [self._load(s) for _, s, _, _ in todo]
        windows = [traj[None, t - u.steps - C:t - u.steps].astype(np.float32) for (_, _, t, _), (_, traj) in zip(todo, loaded)]
        for _ in range(u.steps):
            preds = self.predict_many([(scene, w, None) for (scene, _), w in zip(loaded, windows)])
            windows = [np.concatenate([w[:, 1:], pr.states[:, None]], axis=1) for w, pr in zip(windows, preds)]
        out = {}
        for (p, _, t, obj), (scene, traj), w in zip(todo, loaded, windows):
            if outside_world(scene, w[0]).any():
                continue  # a frame of the model's left the world: keep the true context
            nxt = step_from(scene, w[0, -1])[None] if u.target == "sim" else traj[None, t]
            prompt = build_prompts(scene, w, self.fmt)[0][obj]
            out[p] = encode_example(self.tok, prompt, format_targets(scene, w, nxt, self.fmt)[0][obj])
        self.unrolled += len(out)
        return out

    def examples(self, rng: np.random.Generator, k: int, step: int | None = None) -> list[tuple[list[int], list[int]]]:
        """k examples of at most block_size tokens; longer ones are skipped and replaced by new draws.
        With an Unroll and a training `step` at or past its start, some have the model's own context."""
        out = []
        for _ in range(MAX_DRAWS):
            ids = self.draw(rng, k - len(out))
            own = (self.unrolled_examples(rng, ids)
                   if self.unroll is not None and step is not None and step >= self.unroll.start else {})
            for p, g in enumerate(ids):
                ex = own[p] if p in own else self.example(int(g), rng)
                if len(ex[0]) <= self.block_size:
                    out.append(ex)
                    continue
                if not self.skipped:
                    print(f"note: an example of {len(ex[0])} tokens is longer than block_size "
                          f"{self.block_size}; such examples are skipped (raise block_size to keep them)",
                          file=sys.stderr)
                self.skipped += 1
            if len(out) == k:
                return out
        raise UserError(f"block_size {self.block_size} is too small: {self.skipped} of the examples drawn were "
                        f"longer (use the object view or raise block_size)")

    def batch(self, seed: int, step: int, batch_size: int, part: int | None = None) -> Batch:
        """The training batch of `step`: the same for the same (seed, step), whatever ran before.

        part: micro-batch `part` of the step (training/distributed.py), drawn from its own stream
        (seed, step, part); None: the whole batch from (seed, step), as before micro-batches.
        """
        rng = np.random.default_rng(step_key(seed, STREAM_TRAIN, step, part))
        return collate(self.examples(rng, batch_size, step), self.tok.pad_id)

    def _load(self, i: int) -> tuple:
        """Scene i of the split -> (Scene, traj (T, N, 6) float32), through a small LRU cache."""
        hit = self._cache.get(i)
        if hit is not None:
            self._cache.move_to_end(i)
            return hit
        scene, tr = self.ds[i]
        self._cache[i] = (scene, tr.traj)
        if len(self._cache) > CACHE_SCENES:
            self._cache.popitem(last=False)
        return scene, tr.traj


def eval_windows(ds, context: int, seed: int, k: int) -> list[tuple]:
    """k fixed single-step cases of a split: [(scene, windows (1, C, N, 6), truth (1, N, 6))].

    Scene and target frame drawn uniformly (every object of the frame is predicted, so these
    measure the natural mix of free flight, resting contact and collisions).
    """
    rng = np.random.default_rng([seed, STREAM_WINDOWS])
    out = []
    for _ in range(k if len(ds) else 0):
        scene, tr = ds[int(rng.integers(len(ds)))]
        if tr.traj.shape[0] <= context:
            continue
        t = int(rng.integers(context, tr.traj.shape[0]))
        out.append((scene, tr.traj[None, t - context:t], tr.traj[None, t]))
    return out
