"""GIF (and MP4) writers: a trajectory GIF and the 3-panel truth / prediction / overlay comparison GIF.

Every frame is drawn by physics_llm/render.py without anti-aliasing (text too), so
each pixel is one of a fixed list of colours; frames are mapped exactly onto the
renderer's fixed palette (render.palette_image: no dithering, no per-frame
palettes). That keeps the bytes deterministic for the same input and the files
small (measured: a 100-frame, 30-object comparison GIF at the default scale is
about 0.6 MB).
Files are written and read through imageio (its Pillow plugin for GIFs). A path ending in
.mp4 gets an H.264 MP4 instead (imageio's ffmpeg plugin, pip package imageio-ffmpeg, the
`video` extra): yuv420p, even width and height (the last row / column repeated), the GIF's
frame rate, one encoder thread and bit-exact flags, so the same ffmpeg gives the same bytes.
Both writers write atomically (temp file + rename).

Limits (checked before anything is drawn): a GIF holds at most MAX_GIF_FRAMES frames, an MP4
MAX_MP4_FRAMES, and a panel is drawn at most MAX_PANEL_PX pixels on its longer side (a bigger
world is drawn at a smaller scale), so memory stays bounded whatever the scene: frames are drawn
and quantised one at a time, and Pillow keeps only the palette frames (about 0.3 MB each at the
default size) until the GIF is written; an MP4 keeps no frame (each goes to ffmpeg as it comes).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from physics_llm.io import atomic_path
from physics_llm.render import (AXIS, ERROR, PRED, STRIP_BG, TEXT, TRUTH, TRUTH_DIM, UNPARSED, Renderer,
                                palette_image)
from physics_llm.sim.physics import energy, momentum
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import X, Y

MAX_GIF_FRAMES = 1000  # about 300 MB of palette frames at the default comparison size
MAX_MP4_FRAMES = 10_000  # streamed, so no memory bound: a time bound (about 0.1 s a comparison frame)
VIDEO_FORMATS = {"gif": MAX_GIF_FRAMES, "mp4": MAX_MP4_FRAMES}  # format -> most frames
VIDEO_NAMES = {"gif": "GIFs", "mp4": "MP4 videos"}  # format -> what reports call several
FFMPEG_HINT = "install imageio-ffmpeg (pip install imageio-ffmpeg)"
# libx264 options beyond imageio's: near-lossless for flat colours, one thread and bit-exact
# container flags (no encoder version string), so the bytes depend only on the frames and ffmpeg.
MP4_PARAMS = ["-crf", "18", "-preset", "medium", "-tune", "animation", "-threads", "1",
              "-fflags", "+bitexact", "-flags:v", "+bitexact", "-movflags", "+faststart"]
MAX_PANEL_PX = 800  # the longer side of one panel: the default world at scale 0.5 is 400 px
FONT_SIZE = 11


def _font():
    from PIL import ImageFont

    return ImageFont.load_default(size=FONT_SIZE)


def _draw(img):
    """ImageDraw with anti-aliasing off, so text adds no colours outside the palette."""
    from PIL import ImageDraw

    d = ImageDraw.Draw(img)
    d.fontmode = "1"
    return d


def video_format(path: str | Path) -> str:
    """"mp4" for a path ending in .mp4 (any case), else "gif": the format the writers here write."""
    return "mp4" if Path(path).suffix.lower() == ".mp4" else "gif"


def check_video(video: str, what: str) -> None:
    """UserError naming `what` unless `video` can be written here: MP4 needs imageio-ffmpeg (and its ffmpeg)."""
    if video != "mp4":
        return
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        from physics_llm.errors import UserError

        raise UserError(f"{what}: MP4 output needs ffmpeg; {FFMPEG_HINT}") from None


def check_gif_frames(n: int, what: str = "the GIF", video: str = "gif") -> None:
    """UserError if a `video` ("gif" or "mp4") of n frames is more than it holds (VIDEO_FORMATS; call it
    before the work that makes them)."""
    most = VIDEO_FORMATS[video]
    if n > most:
        from physics_llm.errors import UserError

        raise UserError(f"{what} would have {n} frames; a{'n MP4' if video == 'mp4' else ' GIF'} holds at most "
                        f"{most} (ask for fewer frames)")


def panel_scale(scene: Scene, scale: float) -> float:
    """`scale`, or less so that the world's longer side is at most MAX_PANEL_PX pixels."""
    return min(scale, MAX_PANEL_PX / max(scene.width, scene.height))


def _save(frames, path: str | Path, fps: float) -> Path:
    """RGB PIL frames (any iterable: drawn lazily) -> a looping GIF at `path` (an MP4 if it ends in .mp4;
    temp file + rename), `fps` frames per second. No RGB frame is kept."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("a GIF needs at least one frame")
    p = Path(path)
    frames = itertools.chain([first], frames)
    if video_format(p) == "mp4":
        return _save_mp4(frames, p, fps)
    import imageio.v3 as iio
    from PIL import Image

    pal = palette_image()
    # Palette indices per frame, one shared palette: the GIF holds exactly the renderer's colours.
    # optimize: the unchanged pixels in a frame's changed box are stored as transparent (smaller).
    opts = {"duration": int(round(1000.0 / fps)), "loop": 0, "palette": bytes(pal.getpalette()),
            "optimize": True}
    with atomic_path(p, suffix=".gif") as tmp, iio.imopen(tmp, "w", extension=".gif") as gif:
        for f in frames:
            gif.write(np.asarray(f.quantize(palette=pal, dither=Image.Dither.NONE)), **opts)
    return p


def _save_mp4(frames, p: Path, fps: float) -> Path:
    import imageio.v2 as iio2

    with atomic_path(p, suffix=".mp4") as tmp:
        writer = iio2.get_writer(tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
                                 quality=None, macro_block_size=2, ffmpeg_log_level="error", output_params=MP4_PARAMS)
        try:
            for f in frames:
                a = np.asarray(f)
                writer.append_data(np.pad(a, ((0, a.shape[0] % 2), (0, a.shape[1] % 2), (0, 0)), mode="edge"))
        finally:
            writer.close()
    return p


def read_video(path: str | Path) -> np.ndarray:
    """The frames of a GIF or MP4 (by its suffix, as written here) through imageio: (T, H, W, 3) uint8.
    A GIF gives its stored frames (identical consecutive frames were merged into one)."""
    import imageio.v3 as iio

    if video_format(path) == "mp4":
        check_video("mp4", str(path))
        return iio.imread(path, plugin="FFMPEG", index=None)
    return iio.imread(path, index=None, mode="RGB")


def check_video_out(path: str | Path, n: int, what: str | None = None) -> None:
    """UserError naming `what` (default the path) unless the file's format (by suffix) holds n frames and can
    be written here. The writers call it before drawing; call it before the work that makes the frames."""
    video, what = video_format(path), what or str(path)
    check_gif_frames(n, what, video)
    check_video(video, what)


def _check_traj(scene: Scene, traj: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(traj)
    if a.ndim != 3 or a.shape[1:] != (scene.n, 6) or a.shape[0] < 1:
        raise ValueError(f"{name} must be (T, {scene.n}, 6) for this scene, got shape {a.shape}")
    return a


def write_trajectory_gif(scene: Scene, traj: np.ndarray, path: str | Path, fps: float = 30, scale: float = 0.5,
                         every: int = 1) -> Path:
    """traj (T, N, 6) -> a GIF of frames 0, every, 2*every, ... (ceil(T / every) frames), `fps` per second.

    Objects in their material colours; the image is the world scaled by `scale`. Pillow merges
    identical consecutive frames into one (durations added), so a scene at rest plays the same
    with fewer frames stored. A `path` ending in .mp4 gets an MP4 of every frame (module docstring).
    """
    traj = _check_traj(scene, traj, "traj")
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    check_video_out(path, len(traj[::every]))
    r = Renderer(scene, panel_scale(scene, scale))

    def frames():
        for state in traj[::every]:
            img = r.blank()
            r.draw(img, state)
            yield img
    return _save(frames(), path, fps)


# ---------------------------------------------------------------- comparison


def _curves(scene: Scene, truth: np.ndarray, pred: np.ndarray) -> list[tuple[str, list]]:
    """The strip's plots: (title, [(values (T,), colour), ...]) for energy, |momentum| and position RMSE."""
    e_true, e_pred = energy(scene, truth)["total"], energy(scene, pred)["total"]
    p_true = np.linalg.norm(momentum(scene, truth), axis=-1)
    p_pred = np.linalg.norm(momentum(scene, pred), axis=-1)
    d = pred[..., [X, Y]].astype(np.float64) - truth[..., [X, Y]]
    rmse = np.sqrt((d ** 2).sum(-1).mean(-1))
    return [("total energy", [(e_true, TRUTH), (e_pred, PRED)]),
            ("|momentum|", [(p_true, TRUTH), (p_pred, PRED)]),
            ("position RMSE px", [(rmse, ERROR)])]


def _plot(d, box: tuple[int, int, int, int], title: str, series: list, n: int, font) -> None:
    """Line plot of `series` [(values (n,), colour)] inside box (x0, y0, x1, y1); non-finite values leave gaps."""
    x0, y0, x1, y1 = box
    vals = np.concatenate([v for v, _ in series])
    vals = vals[np.isfinite(vals)]
    lo, hi = (float(vals.min()), float(vals.max())) if len(vals) else (0.0, 1.0)
    if hi - lo < 1e-9 * max(1.0, abs(hi)):
        lo, hi = lo - 1.0, hi + 1.0
    d.text((x0 + 2, y0), f"{title}  {lo:.3g} .. {hi:.3g}", fill=TEXT, font=font)
    top = y0 + FONT_SIZE + 3
    d.rectangle([x0, top, x1, y1], outline=AXIS)
    xs = x0 + 1 + (x1 - x0 - 2) * np.arange(n) / max(n - 1, 1)
    for v, color in series:
        ys = y1 - 1 - (y1 - top - 2) * (np.asarray(v, dtype=np.float64) - lo) / (hi - lo)
        ok = np.isfinite(ys)
        # One polyline per run of finite values, so a diverged prediction shows as a gap.
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            pts = np.stack([xs[a:b], ys[a:b]], axis=1).tolist()
            if len(pts) == 1:
                d.point([tuple(pts[0])], fill=color)
            else:
                d.line([tuple(p) for p in pts], fill=color, width=1)


def write_comparison_gif(scene: Scene, truth: np.ndarray, pred: np.ndarray, path: str | Path,
                         parsed: np.ndarray | None = None, start_frame: int = 0, title: str = "model",
                         fps: float = 20, scale: float = 0.4) -> Path:
    """Three panels (truth green | prediction blue | overlay with red error lines) over a strip of plots.

    truth, pred: (T, N, 6); parsed: (T, N) bool, False objects drawn hollow grey (None: all parsed).
    start_frame: the trajectory frame index of truth[0], for the label. The strip plots total energy
    and |linear momentum| (truth green, prediction blue) and position RMSE (red) with a cursor at
    the current frame. The GIF is 3 * W wide, W = scene.width * scale; T frames. A `path` ending in
    .mp4 gets an MP4 (module docstring; padded to an even width and height).
    """
    from PIL import Image

    truth = _check_traj(scene, truth, "truth")
    pred = _check_traj(scene, pred, "pred")
    if pred.shape != truth.shape:
        raise ValueError(f"pred shape {pred.shape} differs from truth shape {truth.shape}")
    t_len = truth.shape[0]
    parsed = np.ones(truth.shape[:2], dtype=bool) if parsed is None else np.asarray(parsed, dtype=bool)
    if parsed.shape != truth.shape[:2]:
        raise ValueError(f"parsed must be (T, N) = {truth.shape[:2]}, got shape {parsed.shape}")
    check_video_out(path, t_len)
    scale = panel_scale(scene, scale)
    r = Renderer(scene, scale)
    pw, ph = r.size
    font = _font()
    label_h = FONT_SIZE + 6
    strip_h = label_h + max(56, int(round(0.3 * ph)))
    plot_top = label_h
    # The plots never change: drawn once, copied per frame, then the cursor and label go on top.
    strip = Image.new("RGB", (3 * pw, strip_h), STRIP_BG)
    sd = _draw(strip)
    for k, (name, series) in enumerate(_curves(scene, truth, pred)):
        _plot(sd, (k * pw + 6, plot_top, (k + 1) * pw - 6, strip_h - 4), name, series, t_len, font)
    captions = [("truth", TRUTH), ("prediction", PRED), ("overlay", TEXT)]

    def _comparison_frame(t: int):
        frame = Image.new("RGB", (3 * pw, ph + strip_h), STRIP_BG)
        ok = parsed[t]
        panels = [r.blank() for _ in range(3)]
        r.draw(panels[0], truth[t], color=TRUTH)
        r.draw(panels[1], pred[t], color=PRED, select=ok)
        r.draw(panels[1], pred[t], color=UNPARSED, outline=True, select=~ok)
        r.draw(panels[2], truth[t], color=TRUTH_DIM)
        r.draw(panels[2], pred[t], color=PRED, outline=True, select=ok)
        r.draw(panels[2], pred[t], color=UNPARSED, outline=True, select=~ok)
        _error_lines(_draw(panels[2]), truth[t], pred[t], scale)
        for k, (panel, (cap, color)) in enumerate(zip(panels, captions)):
            _draw(panel).text((6, 4), cap, fill=color, font=font)
            frame.paste(panel, (k * pw, 0))
        frame.paste(strip, (0, ph))
        d = _draw(frame)
        for k in range(3):
            x = k * pw + 7 + (pw - 14) * t / max(t_len - 1, 1)
            d.line([(x, ph + plot_top + FONT_SIZE + 3), (x, ph + strip_h - 4)], fill=TEXT)
        parse_rate = 100.0 * ok.mean()
        d.text((6, ph + 3), f"{title}   frame {start_frame + t}  (step {t}/{t_len - 1})   "
                            f"parsed {parse_rate:.0f}%", fill=TEXT, font=font)
        return frame

    return _save((_comparison_frame(t) for t in range(t_len)), path, fps)


def _error_lines(d, truth_state: np.ndarray, pred_state: np.ndarray, scale: float) -> None:
    """Red line from each true to predicted position (image px), where both are finite."""
    a = truth_state[:, [X, Y]].astype(np.float64) * scale
    b = np.clip(pred_state[:, [X, Y]].astype(np.float64) * scale, -1e5, 1e5)
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    for (ax, ay), (bx, by) in zip(a[ok].tolist(), b[ok].tolist()):
        d.line([ax, ay, bx, by], fill=ERROR, width=1)
