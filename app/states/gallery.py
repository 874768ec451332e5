"""Gallery screen: eval reports, their PNG plots, GIFs and MP4 videos, the report's text.

Every directory holding a report.md under reports_dir and the gallery_dirs (the shipped
checkpoints' eval reports in assets/checkpoints/*/eval, training runs in runs/) is listed,
newest first.

GIFs play by decoding one frame at a time with PIL (a 100-frame comparison GIF
held as surfaces would take over 100 MB); each frame is shown for its own duration.
MP4s (`eval --video mp4`) play the same way, one frame at a time from an ffmpeg reader
(imageio-ffmpeg; restarted when the video wraps to its first frame), each frame shown
1/fps seconds. A file that cannot be opened (damaged, half-written, an MP4 without
imageio-ffmpeg) is reported on the status line and skipped.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from app import widgets as W
from app.states.base import Shared, State
from physics_llm.render import to_surface

LIST_W, PAD = 300, 12
MAX_DEPTH = 4  # runs/<run>/eval/<report> is depth 3
RESCAN_S = 2.0  # reports that appear (a finished eval job) show up within this
TEXT_LINES = 200  # of report.md; the rest is in the file


class Media:
    """A PNG or GIF scaled to fit a (w, h) box; `advance(dt)` plays a GIF, `surface()` is the current frame."""

    def __init__(self, path: Path, fit: tuple[int, int]):
        from PIL import Image

        self.path = path
        self.image = Image.open(path)
        self.frames = getattr(self.image, "n_frames", 1)
        w, h = self.image.size
        self.scale = min(1.0, fit[0] / w, fit[1] / h)  # shrink to fit, never blow up (pixel art stays sharp)
        self.size = (max(1, int(w * self.scale)), max(1, int(h * self.scale)))
        self.index = 0
        self.clock = 0.0
        self._surface = None

    @property
    def duration(self) -> float:
        """Seconds the current frame is shown (GIF frames carry their own; 0.1 s if missing)."""
        return max(self.image.info.get("duration", 100), 10) / 1000.0

    def advance(self, dt: float) -> None:
        if self.frames < 2:
            return
        self.clock += dt
        while self.clock >= self.duration:
            self.clock -= self.duration
            self.index = (self.index + 1) % self.frames
            self.image.seek(self.index)  # sequential seeks decode one frame; wrapping to 0 restarts
            self._surface = None

    def surface(self):
        if self._surface is None:
            import pygame

            s = to_surface(np.asarray(self.image.convert("RGB")))
            self._surface = s if self.scale == 1.0 else pygame.transform.smoothscale(s, self.size)
        return self._surface

    def close(self) -> None:
        self.image.close()


def _ffmpeg_error(e: Exception) -> str:
    """ffmpeg's long error (its whole stderr) in one line: the first line and ffmpeg's last word."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip() and not line.startswith("===")]
    if not lines:
        return f"not a readable MP4 ({type(e).__name__})"
    return lines[0] if len(lines) == 1 else f"{lines[0]} ({lines[-1]})"


class Video:
    """An MP4 scaled to fit a (w, h) box, with Media's interface: decoded one frame at a time by an
    ffmpeg reader (imageio-ffmpeg), each frame shown 1/fps seconds (the file's frame rate).

    OSError if the file cannot be played (damaged, half-written, imageio-ffmpeg missing)."""

    def __init__(self, path: Path, fit: tuple[int, int]):
        try:
            import imageio_ffmpeg

            imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            from physics_llm.gifs import FFMPEG_HINT

            raise OSError(f"playing an MP4 needs ffmpeg; {FFMPEG_HINT}") from None
        self._ffmpeg = imageio_ffmpeg
        self.path = path
        self._reader = None
        try:  # decodes the file once (ffmpeg, no frames kept): the count the "frame i/N" label needs
            self.frames = int(imageio_ffmpeg.count_frames_and_secs(str(path))[0])
        except (OSError, RuntimeError, ValueError) as e:
            raise OSError(_ffmpeg_error(e)) from None
        if self.frames < 1:
            raise OSError("the video has no frames")
        meta = self._restart()
        fps = float(meta.get("fps") or 0.0)
        self.fps = fps if fps > 0 else 10.0
        w, h = self._wh
        self.scale = min(1.0, fit[0] / w, fit[1] / h)
        self.size = (max(1, int(w * self.scale)), max(1, int(h * self.scale)))
        self.clock = 0.0
        self._surface = None

    @property
    def duration(self) -> float:
        """Seconds the current frame is shown: 1/fps."""
        return 1.0 / self.fps

    def _restart(self) -> dict:
        """A new reader at frame 0 (the old one's ffmpeg stopped): its metadata; the first frame is read."""
        self.close()
        try:
            self._reader = self._ffmpeg.read_frames(str(self.path))
            meta = next(self._reader)
            w, h = (int(v) for v in meta["size"])
            self._wh = (w, h)
        except (OSError, RuntimeError, ValueError, KeyError, StopIteration) as e:
            self.close()
            raise OSError(_ffmpeg_error(e)) from None
        frame = self._read()
        if frame is None:
            self.close()
            raise OSError("the video has no frames")
        self.index, self._frame = 0, frame
        return meta

    def _read(self):
        """The reader's next frame as (H, W, 3) uint8, None at the end. OSError if ffmpeg fails."""
        try:
            raw = next(self._reader)
        except StopIteration:
            return None
        except (RuntimeError, ValueError) as e:
            raise OSError(_ffmpeg_error(e)) from None
        w, h = self._wh
        return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)

    def advance(self, dt: float) -> None:
        if self.frames < 2:
            return
        self.clock += dt
        while self.frames > 1 and self.clock >= self.duration:
            self.clock -= self.duration
            try:
                frame = self._read() if self.index + 1 < self.frames else None
                if frame is not None:
                    self.index, self._frame = self.index + 1, frame
                else:  # past the last frame: back to frame 0 with a new reader
                    if self.index + 1 < self.frames:  # the file ended before the count said
                        self.frames = self.index + 1
                    self._restart()
            except OSError:  # the file went away or broke while playing: stay on the frame shown
                self.frames = 1
                self.close()
            self._surface = None

    def surface(self):
        if self._surface is None:
            import pygame

            s = to_surface(self._frame)
            self._surface = s if self.scale == 1.0 else pygame.transform.smoothscale(s, self.size)
        return self._surface

    def close(self) -> None:
        """Stop the reader's ffmpeg (also done when the Video is garbage-collected)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


def open_media(path: Path, fit: tuple[int, int]) -> Media | Video:
    """The player for `path` by its suffix: Video for .mp4, Media (PIL) for PNG and GIF."""
    return Video(path, fit) if path.suffix.lower() == ".mp4" else Media(path, fit)


def find_reports(dirs: list[str]) -> list[Path]:
    """Directories holding a report.md under `dirs` (missing ones skipped; hidden, temporary and
    half-written directories and whatever lies inside a report are not searched)."""
    found: list[Path] = []
    for root in dict.fromkeys(dirs):
        depth0 = len(Path(root).parts)
        for cur, subdirs, files in os.walk(root):
            d = Path(cur)
            if "report.md" in files:
                found.append(d)
                subdirs[:] = []
                continue
            keep = len(d.parts) - depth0 < MAX_DEPTH
            subdirs[:] = sorted(x for x in subdirs if keep and not x.startswith(".") and ".tmp-" not in x
                                and ".old-" not in x)
    return list(dict.fromkeys(found))


class GalleryState(State):
    name = "gallery"
    hints = "Up/Down report  Left/Right picture  wheel scroll text  esc back  j jobs  q quit"

    def __init__(self, shared: Shared):
        super().__init__(shared)
        self.reports: list[Path] = []
        self.current: Path | None = None
        self.media_paths: list[Path] = []
        self.media_index = 0
        self.media: Media | Video | None = None
        self.text: list[str] = []
        self.text_top = 0
        self._scanned = 0.0
        self._layout()

    def _layout(self) -> None:
        import pygame

        b = self.body
        self.list = W.ListPicker(pygame.Rect(b.x + PAD, b.y + PAD + 28, LIST_W, b.height - 2 * PAD - 28))
        right = pygame.Rect(self.list.rect.right + PAD, b.y + PAD, b.right - self.list.rect.right - 2 * PAD,
                            b.height - 2 * PAD)
        bar = 30
        self.prev_button = W.Button(pygame.Rect(right.x, right.y, 36, 26), "<")
        self.next_button = W.Button(pygame.Rect(right.right - 36, right.y, 36, 26), ">")
        self.media_rect = pygame.Rect(right.x, right.y + bar, right.width, int((right.height - bar) * 0.6))
        self.text_rect = pygame.Rect(right.x, self.media_rect.bottom + PAD, right.width,
                                     right.bottom - self.media_rect.bottom - PAD)

    def resize(self) -> None:
        """A new window size: the list and the picture are laid out (and the picture scaled) again."""
        self._layout()
        self.list.set_items([self._label(p) for p in self.reports],
                            self.reports.index(self.current) if self.current in self.reports else 0)
        if self.media_paths:
            self.show(self.media_index)

    # ------------------------------------------------------------ loading

    def scan(self) -> None:
        """List the report directories, newest first; keep the current one selected."""
        found = find_reports([self.cfg.reports_dir, *self.cfg.gallery_dirs])

        def newest(p: Path):
            try:
                return -(p / "report.md").stat().st_mtime
            except OSError:
                return 0.0

        self.reports = sorted(found, key=lambda p: (newest(p), str(p)))
        sel = self.reports.index(self.current) if self.current in self.reports else 0
        self.list.set_items([self._label(p) for p in self.reports], sel)
        self._scanned = time.monotonic()
        if self.current not in self.reports:
            self.open(self.reports[0] if self.reports else None)

    def _label(self, p: Path) -> str:
        """reports/NAME for reports_dir's, the path for the others (assets/checkpoints/gpt-small/eval)."""
        return str(p)

    def open(self, report: Path | None) -> None:
        """Show a report directory: its PNGs, GIFs then MP4s, and the first lines of report.md."""
        self.current, self.media_index, self.text_top = report, 0, 0
        if report is None:
            self._close_media()
            self.media_paths, self.text = [], []
            return
        self.media_paths = [p for ext in ("png", "gif", "mp4") for p in sorted(report.glob(f"*.{ext}"))]
        try:
            with (report / "report.md").open() as f:
                self.text = [line.rstrip("\n") for _, line in zip(range(TEXT_LINES), f)]
        except OSError as e:
            self.text = [f"cannot read {report / 'report.md'}: {e}"]
        if report in self.reports:
            self.list.set_items(self.list.items, self.reports.index(report))
        self.show(0)

    def _close_media(self) -> None:
        if self.media is not None:
            self.media.close()
            self.media = None

    def show(self, i: int) -> None:
        self._close_media()
        if not self.media_paths:
            return
        self.media_index = i % len(self.media_paths)
        path = self.media_paths[self.media_index]
        try:
            self.media = open_media(path, (self.media_rect.width - 16, self.media_rect.height - 16))
        except OSError as e:  # a half-written or damaged file: say so, keep the gallery going
            self.media = None
            self.say(f"cannot open {path}: {e}", error=True)

    # ------------------------------------------------------------ state interface

    def startup(self, persist: dict) -> None:
        super().startup(persist)
        wanted = persist.pop("report", None)
        self.scan()
        if wanted is not None and Path(wanted) in self.reports:
            self.open(Path(wanted))

    def get_event(self, event) -> bool:
        import pygame

        if self.prev_button.handle(event) or (event.type == pygame.KEYDOWN and event.key == pygame.K_LEFT):
            self.show(self.media_index - 1)
            return True
        if self.next_button.handle(event) or (event.type == pygame.KEYDOWN and event.key == pygame.K_RIGHT):
            self.show(self.media_index + 1)
            return True
        if event.type == pygame.MOUSEBUTTONDOWN and event.button in (4, 5) and self.text_rect.collidepoint(event.pos):
            rows = len(self._wrapped(self.text_rect.width - 20)) if self.text else 1
            self.text_top = max(0, min(self.text_top + (3 if event.button == 5 else -3), rows - 1))
            return True
        if self.list.handle(event):
            self.list.picked = None
            if self.reports and self.reports[self.list.selected] != self.current:
                self.open(self.reports[self.list.selected])
            return True
        return False

    def update(self, dt: float) -> None:
        if time.monotonic() - self._scanned > RESCAN_S:
            self.scan()
        if self.media is not None:
            self.media.advance(dt)

    def draw(self, surface) -> None:
        th = self.theme
        where = ", ".join(f"{d}/" for d in dict.fromkeys([self.cfg.reports_dir, *self.cfg.gallery_dirs]))
        W.text(surface, f"Reports ({len(self.reports)})", (self.list.rect.x, self.list.rect.y - 26), th.big)
        W.text(surface, f"in {where}", (self.list.rect.x + 130, self.list.rect.y - 22), th.small, W.DIM,
               self.list.rect.width - 130)
        self.list.draw(surface, th, empty="no reports yet: run an eval (jobs screen)")
        W.panel(surface, self.media_rect)
        W.panel(surface, self.text_rect)
        self.prev_button.draw(surface, th)
        self.next_button.draw(surface, th)
        bar_x = self.prev_button.rect.right + 12
        if self.media_paths:
            m = self.media
            frames = f", frame {m.index + 1}/{m.frames}" if m is not None and m.frames > 1 else ""
            name = self.media_paths[self.media_index].name
            label = f"{self.media_index + 1}/{len(self.media_paths)}  {name}{frames}"
        else:
            label = "no pictures in this report" if self.current is not None else ""
        W.text(surface, label, (bar_x, self.prev_button.rect.y + 4), th.font, W.TEXT,
               self.next_button.rect.x - bar_x - 12)
        if self.media is not None:
            s = self.media.surface()
            surface.blit(s, s.get_rect(center=self.media_rect.center))
        box = self.text_rect.inflate(-20, -16)
        rows = self._wrapped(box.width)[self.text_top:] if self.text else ["(select a report)"]
        W.lines(surface, rows, box, th.mono, W.TEXT, gap=1)

    def _wrapped(self, width: int) -> list[str]:
        """report.md's lines wrapped to the text box (cached per report and width)."""
        key = (id(self.text), len(self.text), width)
        if getattr(self, "_wrap_key", None) != key:
            self._wrap_key = key
            self._wrap_rows = [row for line in self.text
                               for row in ([line] if self.theme.mono.size(line)[0] <= width
                                           else W.wrap(line, self.theme.mono, width))]
        return self._wrap_rows
