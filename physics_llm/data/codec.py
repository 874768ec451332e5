"""One scene's trajectory <-> a compact zstd blob (the codec chosen by benchmarks/bench_storage.py).

Steps (each measured on 30-object default scenes, 200 frames; bench_storage prints them):
1. Quantise every column to an integer number of `units` (default 0.01 px,
   0.01 px/s, 1e-4 rad, 1e-4 rad/s). Angles are unwrapped along time first so a
   spin past +-pi is a small step, and wrapped again on decode.
2. Velocities: difference along time (free flight is a constant g*dt step).
   Positions and angle: difference along time minus the kinematic prediction
   (mean of the two velocities) * dt, rounded: resting and flying bodies leave
   residuals near zero. 17% smaller than plain time differences.
3. Zigzag to unsigned, uint32, byte-shuffle (all low bytes, then all second
   bytes, ...), so the mostly-zero high bytes compress to nothing.
4. Contacts (T-1, N) bool packed per object with np.packbits; zstd over it all.

Lossless on the quantised integers; the decoded value is within unit/2 of the
simulator's float32 value (plus float32 rounding of the result). Angle error is
the angular distance |wrap(decoded - true)|.
"""

from __future__ import annotations

import numpy as np
import zstandard

from physics_llm.sim.state import Trajectory, wrap_angle

POS_COLS = [0, 1, 4]  # x, y, angle ...
VEL_COLS = [2, 3, 5]  # ... and their rates vx, vy, angular_velocity
ANGLE = 4
_WIDTH = 4  # bytes per stored integer


def quantise(traj: np.ndarray, units) -> np.ndarray:
    """(T, N, 6) float -> (T, N, 6) int64 steps of `units`; angle unwrapped along time."""
    t = np.asarray(traj, dtype=np.float64).copy()
    if not np.isfinite(t).all():
        raise ValueError("trajectory has non-finite values (the simulation blew up)")
    t[:, :, ANGLE] = np.unwrap(t[:, :, ANGLE], axis=0)
    return np.rint(t / np.asarray(units, dtype=np.float64)).astype(np.int64)


def dequantise(q: np.ndarray, units) -> np.ndarray:
    """(T, N, 6) int64 -> float32 state with the angle wrapped to (-pi, pi]."""
    v = q.astype(np.float64) * np.asarray(units, dtype=np.float64)
    v[:, :, ANGLE] = wrap_angle(v[:, :, ANGLE])
    return v.astype(np.float32)


def _kinematic_step(vel: np.ndarray, units, dt: float) -> np.ndarray:
    """(3, N, T) quantised rates -> (3, N, T-1) predicted position steps in position units."""
    u = np.asarray(units, dtype=np.float64)
    scale = (u[VEL_COLS] / u[POS_COLS] * dt / 2.0)[:, None, None]
    return np.rint((vel[:, :, :-1] + vel[:, :, 1:]) * scale).astype(np.int64)


def _zigzag(d: np.ndarray) -> np.ndarray:
    return ((d << 1) ^ (d >> 63)).view(np.uint64)


def _unzigzag(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.uint64)
    return (z >> np.uint64(1)).view(np.int64) ^ -(z & np.uint64(1)).view(np.int64)


def residuals(q: np.ndarray, units, dt: float) -> np.ndarray:
    """(T, N, 6) quantised -> (6, N, T) int64 residuals (step 2 above)."""
    planes = np.ascontiguousarray(q.transpose(2, 1, 0))  # (6, N, T)
    d = np.diff(planes, axis=2, prepend=0)
    d[POS_COLS, :, 1:] -= _kinematic_step(planes[VEL_COLS], units, dt)
    return d


def unresiduals(d: np.ndarray, units, dt: float) -> np.ndarray:
    """Inverse of `residuals`: (6, N, T) int64 -> (T, N, 6) quantised."""
    planes = np.empty_like(d)
    planes[VEL_COLS] = np.cumsum(d[VEL_COLS], axis=2)
    steps = d[POS_COLS].copy()
    steps[:, :, 1:] += _kinematic_step(planes[VEL_COLS], units, dt)
    planes[POS_COLS] = np.cumsum(steps, axis=2)
    return planes.transpose(2, 1, 0)


def encode(traj: np.ndarray, contacts: np.ndarray, units, dt: float, level: int = 3) -> bytes:
    """traj (T, N, 6) float32, contacts (T-1, N) bool -> zstd blob."""
    T, N, _ = traj.shape
    z = _zigzag(residuals(quantise(traj, units), units, dt))
    if N and int(z.max()) >= 1 << (8 * _WIDTH):
        raise ValueError("a value is out of the stored range; use a larger unit in the data config")
    shuffled = np.ascontiguousarray(z.astype(f"<u{_WIDTH}").reshape(-1).view(np.uint8).reshape(-1, _WIDTH).T)
    bits = np.packbits(np.ascontiguousarray(np.asarray(contacts, dtype=bool).T))
    return zstandard.ZstdCompressor(level=level).compress(shuffled.tobytes() + bits.tobytes())


def decode(blob: bytes, n: int, frames: int, units, dt: float,
           dctx: zstandard.ZstdDecompressor | None = None) -> Trajectory:
    """Inverse of `encode` for a scene of n objects and `frames` frames."""
    size = 6 * n * frames * _WIDTH
    expected = size + (n * (frames - 1) + 7) // 8
    claimed = zstandard.frame_content_size(blob) if len(blob) >= 4 else -1
    if claimed not in (-1, expected):  # checked before decompressing: a damaged size allocates nothing
        raise ValueError(f"blob holds {claimed} bytes, expected {expected} for {n} objects x {frames} frames")
    raw = (dctx or zstandard.ZstdDecompressor()).decompress(blob, max_output_size=expected)
    if len(raw) != expected:
        raise ValueError(f"blob holds {len(raw)} bytes, expected {expected} for {n} objects x {frames} frames")
    planes = np.frombuffer(raw, dtype=np.uint8, count=size).reshape(_WIDTH, -1).T.copy()
    z = planes.view(f"<u{_WIDTH}").reshape(6, n, frames)
    q = unresiduals(_unzigzag(z), units, dt)
    bits = np.frombuffer(raw, dtype=np.uint8, offset=size)
    contacts = np.unpackbits(bits, count=n * (frames - 1)).reshape(n, frames - 1).T.astype(bool)
    return Trajectory(traj=dequantise(q, units), contacts=np.ascontiguousarray(contacts))
