"""The target: a next state as integers (two encodings) and as `o<i>` lines, and back.

A target line is `o<i> a b c d e f`: object id, then six integers in the units of
text/units.py for x, y, vx, vy, angle, angular_velocity. Both views use it for
their targets (the scene view also for its context frames), and the parser reads
it with `read_line` below, so writing and reading cannot drift apart.

Encodings (docs/DESIGN.md "Text"):
- absolute: quantize(next state).
- walls: as residual, against free flight with wall bounces (physics_llm/sim/prior.py):
  the bounce off a wall is in the rule, the model writes its correction.
- rest: as walls, and a body in lasting contact (its last context step departed from free
  flight by 8-60 px/s) keeps its last velocity in the rule (sim/prior.rest_prior), so a resting
  pile's target is a near-zero correction. Needs two context frames.
- impulse: as rest, and a new body-body contact gets a frictionless impulse along the line of
  centres in the rule (sim/prior.impulse_prior). Needs two context frames.
- touch: as impulse, and the rest case needs the body to touch something after free flight
  (sim/prior.touch_prior), so a body leaving a contact is in free flight in the rule.
- residual: quantize_diff(next state, free_flight(last context frame)), i.e. the
  difference is taken in float64 and then rounded (the angle difference wrapped
  first). In free flight it is exactly zero: float32 storage moves the two states
  apart by at most ~1e-3 units, far from the 0.5 rounding threshold. Quantising
  the two states separately and subtracting turns that noise into a +-1 wherever a
  number sits on a rounding boundary, and the generator's 0.01-rounded values often
  do: on 10 random scenes, 5.8% of the object-steps free of contact (in that step
  and the one before) got a non-zero residual that way, none this way. (Right after
  a contact 0.03% are non-zero: Pymunk's position correction, a real effect.)
Decoding is exact to the quantisation either way: |decoded - next| <= unit / 2
(plus float32 spacing), the angle compared modulo 2 pi.
"""

from __future__ import annotations

import re

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.sim.state import free_flight
from physics_llm.text.units import MAX_DIGITS, SCALE, dequantize, quantize, quantize_diff

ENCODINGS = ("residual", "absolute", "walls", "rest", "impulse", "touch")
RESIDUALS = ("residual", "walls", "rest", "impulse", "touch")  # encodings written as a difference from a rule's prediction
TWO_FRAMES = ("rest", "impulse", "touch")  # encodings whose rule reads the last two context frames
# Target field orders (TextFormat.order): the written line's columns as state columns. "state" is
# x y vx vy angle w; "vel_first" writes vx vy w x y angle. Greedy decoding commits to the first
# field before it sees the rest, and the field that decides "did a contact happen" is a velocity
# change (the position change of a bounce is near zero), so it goes first.
ORDERS = {"state": (0, 1, 2, 3, 4, 5), "vel_first": (2, 3, 5, 0, 1, 4)}


def to_written(ints: np.ndarray, order: str) -> np.ndarray:
    """(..., 6) numbers in state order -> in the written order of `order`."""
    return np.asarray(ints)[..., list(ORDERS[order])]


def from_written(ints: np.ndarray, order: str) -> np.ndarray:
    """(..., 6) numbers as written in `order` -> state order (the inverse of to_written)."""
    ints = np.asarray(ints)
    out = np.empty_like(ints)
    out[..., list(ORDERS[order])] = ints
    return out
_INT = re.compile(r"-?[0-9]+", re.ASCII)
_ID = re.compile(r"o([0-9]{1,6})", re.ASCII)


def ballistic(scene: Scene, last: np.ndarray) -> np.ndarray:
    """(..., N, 6) last context frame -> (..., N, 6) float64 free-flight next state."""
    return free_flight(np.asarray(last, dtype=np.float64), scene.gravity, scene.dt, scene.substeps)


def base(scene: Scene, window: np.ndarray, encoding: str) -> np.ndarray:
    """(..., C, N, 6) context -> (..., N, 6) the rule a residual encoding is written against: free
    flight (`residual`), free flight with wall bounces (`walls`, physics_llm/sim/prior.py), or that
    with lasting contacts keeping their velocity (`rest`, from the last two frames), and with
    impulses for new body-body contacts (`impulse`), the rest case only for bodies that touch
    something after free flight (`touch`)."""
    last = window[..., -1, :, :]
    if encoding == "walls":
        from physics_llm.sim.prior import wall_prior

        return wall_prior(scene, last)
    if encoding in TWO_FRAMES:
        from physics_llm.sim.prior import impulse_prior, rest_prior, touch_prior

        if window.shape[-3] < 2:
            raise ValueError(f"the {encoding} encoding needs two context frames")
        rule = {"rest": rest_prior, "impulse": impulse_prior, "touch": touch_prior}[encoding]
        return rule(scene, window[..., -2, :, :], last)
    return ballistic(scene, last)


def encode(scene: Scene, window: np.ndarray, next_state: np.ndarray, encoding: str) -> np.ndarray:
    """(..., C, N, 6) context and (..., N, 6) next state -> (..., N, 6) int64 target numbers."""
    if encoding == "absolute":
        return quantize(next_state)
    if encoding in RESIDUALS:
        return quantize_diff(next_state, base(scene, window, encoding))
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def decode(scene: Scene, window: np.ndarray, ints: np.ndarray, encoding: str) -> np.ndarray:
    """(..., C, N, 6) context and (..., N, 6) int target numbers -> (..., N, 6) float64 state.

    The angle is left unwrapped so the parser can range-check what the model wrote; it wraps after.
    """
    vals = dequantize(ints)
    if encoding == "absolute":
        return vals
    if encoding in RESIDUALS:
        return base(scene, window, encoding) + vals
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def decode_rows(scene: Scene, windows: np.ndarray, b: np.ndarray, obj: np.ndarray, ints: np.ndarray,
                encoding: str) -> np.ndarray:
    """Rows of target numbers -> states: ints (K, 6) belong to window b[k], object obj[k] of
    windows (B, C, N, 6). The rule a residual is written against may depend on which object a row
    is (the walls prior: its shape and material), so it is computed on whole frames, then picked."""
    if encoding in RESIDUALS:
        return base(scene, windows, encoding)[b, obj] + dequantize(ints)
    return decode(scene, windows[b], ints, encoding)


def format_line(i: int, ints) -> str:
    """`o<i>` and six integers, one space apart (no newline)."""
    return f"o{i} " + " ".join(str(int(v)) for v in ints)


def read_line(line: str) -> tuple[str, int | None, tuple[int, ...] | None]:
    """One line of model output -> (status, id or None, six ints or None). Never raises.

    status: "ok" (id may be None when the line has only the six numbers),
    "blank", "malformed" (not the grammar) or "too_long" (a number of more than
    MAX_DIGITS digits: beyond any limit, so out of range).
    """
    parts = line.split()
    if not parts:
        return "blank", None, None
    ident = None
    m = _ID.fullmatch(parts[0])
    if m:
        ident = int(m.group(1))
        parts = parts[1:]
    if len(parts) != len(SCALE) or not all(_INT.fullmatch(p) for p in parts):
        return "malformed", ident, None
    if any(len(p.lstrip("-")) > MAX_DIGITS for p in parts):
        return "too_long", ident, None
    return "ok", ident, tuple(int(p) for p in parts)
