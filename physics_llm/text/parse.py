"""The one tolerant parser every model uses: model text -> states, a parsed mask, and counts.

It never raises on model output (garbage, truncated or empty text, None, huge
numbers, unicode): it reads what it can. Rules, per window:
- A usable line is a target line `o<i> a b c d e f` (text/target.py). In the object
  view output i belongs to object i; a line without the id is accepted there,
  a line with another id counts as `extra`. In the scene view the id is required.
- The first usable, in-range line of an object wins; later ones count as `duplicate`.
- A decoded value beyond units.LIMITS (or a number of more than MAX_DIGITS digits)
  counts as `out_of_range` and claims nothing.
- Non-blank lines that are not the grammar count as `malformed`; ids outside the
  scene, outputs beyond the expected count and windows beyond B count as `extra`.
- Objects left without a usable line are `missing` (NaN in states, parsed False).
Only the windows are trusted input: a wrongly shaped `windows` is a caller's bug
and raises ValueError, like build_prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, wrap_angle
from physics_llm.text.format import TextFormat
from physics_llm.text.target import decode_rows, from_written, read_line
from physics_llm.text.units import LIMITS
from physics_llm.text.views import check_windows

STATS = ("parsed", "missing", "malformed", "duplicate", "out_of_range", "extra")


@dataclass
class ParseResult:
    states: np.ndarray  # (B, N, 6) float32, NaN where unparsed
    parsed: np.ndarray  # (B, N) bool
    stats: dict  # counts, keys STATS

    @property
    def rate(self) -> float:
        return float(self.parsed.mean()) if self.parsed.size else 0.0


def _items(x) -> list:
    """A string or a list/tuple of things -> a list; anything else -> empty."""
    if isinstance(x, str):
        return [x]
    if isinstance(x, (list, tuple)):
        return list(x)
    return []


def _lines(text) -> list[str]:
    return text.splitlines() if isinstance(text, str) else []


def parse_outputs(scene: Scene, windows, outputs, fmt: TextFormat | None = None) -> ParseResult:
    """windows (B, C, N, 6) as given to build_prompts; outputs mirror its structure:
    per window a list of N strings (object view) or of one string (scene view).
    """
    fmt = fmt or TextFormat()
    w = check_windows(scene, windows, fmt)
    B, N = w.shape[0], scene.n
    stats = dict.fromkeys(STATS, 0)
    per_window = _items(outputs)
    stats["extra"] += max(0, len(per_window) - B)
    expected = N if fmt.view == "object" else 1
    cands: list[tuple[int, int, tuple[int, ...]]] = []  # (window, object, six ints) in reading order
    for b in range(min(B, len(per_window))):
        texts = _items(per_window[b])
        stats["extra"] += max(0, len(texts) - expected)
        for k, text in enumerate(texts[:expected]):
            for line in _lines(text):
                status, ident, ints = read_line(line)
                if status == "blank":
                    continue
                if status == "malformed":
                    stats["malformed"] += 1
                elif status == "too_long":
                    stats["out_of_range"] += 1
                elif fmt.view == "object" and ident not in (None, k):
                    stats["extra"] += 1
                elif fmt.view == "scene" and ident is None:
                    stats["malformed"] += 1
                elif fmt.view == "scene" and ident >= N:
                    stats["extra"] += 1
                else:
                    cands.append((b, k if fmt.view == "object" else ident, ints))

    states = np.full((B, N, 6), np.nan)
    parsed = np.zeros((B, N), dtype=bool)
    if cands:
        bs = np.array([c[0] for c in cands])
        objs = np.array([c[1] for c in cands])
        ints = from_written(np.array([c[2] for c in cands], dtype=np.int64), fmt.order)  # (K, 6), |v| < 10**MAX_DIGITS
        vals = decode_rows(scene, w, bs, objs, ints, fmt.encoding)  # (K, 6)
        ok = (np.abs(vals) <= LIMITS).all(axis=-1)
        for k in range(len(cands)):
            b, i = bs[k], objs[k]
            if not ok[k]:
                stats["out_of_range"] += 1
            elif parsed[b, i]:
                stats["duplicate"] += 1
            else:
                parsed[b, i] = True
                states[b, i] = vals[k]
    states[..., ANGLE] = wrap_angle(states[..., ANGLE])
    stats["parsed"] = int(parsed.sum())
    stats["missing"] = int(parsed.size - parsed.sum())
    return ParseResult(states=states.astype(np.float32), parsed=parsed, stats=stats)
