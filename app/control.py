"""The app's loop and screen switching (Mekire's `Control`): events, update, draw, flip, tick.

The Control draws the chrome every screen shares (a header with tabs, a footer
with the screen's message and keys) and hands the body to the current state.
One `persist` dict travels through every state's startup/cleanup.
"""

from __future__ import annotations

import time

from app import widgets as W
from app.states.base import Shared, State

HEADER_H, FOOTER_H = 40, 46
TABS = [("compare", "Compare"), ("editor", "Editor"), ("jobs", "Jobs"), ("gallery", "Gallery")]


def body_rect(width: int, height: int):
    """The part of the window a state draws in."""
    import pygame

    return pygame.Rect(0, HEADER_H, width, height - HEADER_H - FOOTER_H)


class Control:
    def __init__(self, screen, shared: Shared, states: dict[str, State], start: str, fps: int):
        import pygame

        self.screen, self.shared, self.states, self.fps = screen, shared, states, fps
        self.clock = pygame.time.Clock()
        self.done = False
        self.persist: dict = {}
        self.state_name = start
        self.state = states[start]
        self.state.startup(self.persist)
        self._announced: set[int] = set()
        self.confirm: str | None = None  # the question of the quit dialog while it is open
        self.frame_ms: list[float] = []  # work per frame (events, update, draw, flip), without the cap's sleep
        x = 150
        self.tabs = []
        for name, label in TABS:
            self.tabs.append((name, W.Button(pygame.Rect(x, 7, 96, HEADER_H - 14), label)))
            x += 104
        self._keys = {pygame.K_e: "editor", pygame.K_j: "jobs", pygame.K_g: "gallery"}

    def flip_state(self, name: str) -> None:
        if name == self.state_name:
            return
        self.persist = self.state.cleanup()
        self.state.message = ""
        self.state_name, self.state = name, self.states[name]
        self.state.startup(self.persist)

    def event_loop(self) -> None:
        import pygame

        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                self.request_quit()
            elif event.type == pygame.VIDEORESIZE:
                self.resize(event.w, event.h)
            elif self.confirm is not None:
                self._confirm_event(event)
            elif event.type == pygame.DROPFILE and "editor" in self.states:  # a scene file from anywhere
                self.flip_state("editor")
                self.state.open_path(event.file)
            elif self.state.get_event(event):
                continue
            elif event.type == pygame.MOUSEBUTTONDOWN:
                for name, button in self.tabs:
                    if button.handle(event):
                        self.flip_state(name)
            elif event.type == pygame.KEYDOWN:
                if event.key == pygame.K_q:
                    self.request_quit()
                elif event.key == pygame.K_ESCAPE:  # back, never quit
                    if self.state_name == "compare":
                        self.state.say("Esc goes back to this screen from the others; q quits")
                    else:
                        self.flip_state("compare")
                elif event.key in self._keys:
                    self.flip_state(self._keys[event.key])

    def quit_reasons(self) -> list[str]:
        """What quitting now would lose: running jobs, an editor scene not saved."""
        out = []
        n = len(self.shared.jobs.running())
        if n:
            out.append(f"{n} job{'s' if n != 1 else ''} running (quitting cancels {'them' if n != 1 else 'it'})")
        editor = self.states.get("editor")
        if editor is not None and getattr(editor, "dirty", False):
            out.append("the editor's scene is not saved")
        return out

    def request_quit(self) -> None:
        """Quit now, or first ask when something would be lost."""
        reasons = self.quit_reasons()
        if not reasons:
            self.done = True
        elif self.confirm is None:
            self.confirm = "Quit? " + "; ".join(reasons) + "."

    def _confirm_rects(self):
        import pygame

        w, h = self.screen.get_size()
        box = pygame.Rect(0, 0, min(620, w - 40), 130)
        box.center = (w // 2, h // 2)
        yes = pygame.Rect(box.right - 250, box.bottom - 44, 110, 30)
        no = pygame.Rect(box.right - 128, box.bottom - 44, 110, 30)
        return box, yes, no

    def _confirm_event(self, event) -> None:
        import pygame

        _, yes, no = self._confirm_rects()
        if event.type == pygame.KEYDOWN:
            if event.key in (pygame.K_y, pygame.K_RETURN, pygame.K_KP_ENTER):
                self.done = True
            elif event.key in (pygame.K_n, pygame.K_ESCAPE):
                self.confirm = None
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if yes.collidepoint(event.pos):
                self.done = True
            elif no.collidepoint(event.pos):
                self.confirm = None

    def _draw_confirm(self) -> None:
        import pygame

        s, th = self.screen, self.shared.theme
        shade = pygame.Surface(s.get_size(), pygame.SRCALPHA)
        shade.fill((0, 0, 0, 150))
        s.blit(shade, (0, 0))
        box, yes, no = self._confirm_rects()
        W.panel(s, box, "Quit the app?", th)
        W.lines(s, W.wrap(self.confirm, th.font, box.width - 24), box.inflate(-24, -80).move(0, -4), th.font)
        W.Button(yes, "quit (y)").draw(s, th)
        W.Button(no, "stay (n)").draw(s, th)

    def resize(self, w: int, h: int) -> None:
        """A new window size: every screen lays itself out again (never below MIN_SIZE)."""
        import pygame

        from app.config import MIN_SIZE

        want = max(w, MIN_SIZE[0]), max(h, MIN_SIZE[1])
        surface = pygame.display.get_surface()
        if (w, h) != want or surface is None or surface.get_size() != want:
            surface = pygame.display.set_mode(want, pygame.RESIZABLE)  # also pulls a too-small window back up
        self.screen = surface
        w, h = want
        self.shared.body = body_rect(w, h)
        for state in self.states.values():
            state.resize()

    def _announce_jobs(self) -> None:
        """Say when a job ends; a finished eval's report is the one the gallery opens next."""
        first = len(self.shared.jobs.history)  # the jobs screen numbers earlier sessions' jobs first
        for k, job in enumerate(self.shared.jobs.jobs):
            if k in self._announced or job.status == "running":
                continue
            self._announced.add(k)
            where = ""
            if job.name == "eval" and job.status == "done":
                self.persist["report"] = job.out
                where = f": {job.out} is in the gallery (g)"
            elif job.status == "done" and job.out:
                where = f": {job.out}"
            elif job.status == "cancelled" and job.removed:
                where = f"; removed {', '.join(job.removed)}"
            elif job.status == "failed":
                where = " (the jobs screen shows its error)"
            self.state.say(f"job #{first + k + 1} {job.name} {job.status}{where}", error=job.status == "failed")

    def update(self, dt: float) -> None:
        self._announce_jobs()
        self.state.update(dt)
        if self.state.quit:
            self.done = True
        elif self.state.done:
            self.flip_state(self.state.next)

    def draw(self) -> None:
        import pygame

        s, th = self.screen, self.shared.theme
        s.fill(W.BG)
        self.state.draw(s)
        w, h = s.get_size()
        pygame.draw.rect(s, W.PANEL, (0, 0, w, HEADER_H))
        pygame.draw.line(s, W.PANEL_EDGE, (0, HEADER_H - 1), (w, HEADER_H - 1))
        W.text(s, "physics-llm", (14, HEADER_H // 2 - th.big.get_height() // 2), th.big, W.ACCENT)
        for name, button in self.tabs:
            button.on = name == self.state_name
            button.draw(s, th)
        running = len(self.shared.jobs.running())
        right = f"{running} job{'s' if running != 1 else ''} running   " if running else ""
        right += f"{self.clock.get_fps():.0f} fps"
        W.text(s, right, (w - 14 - th.font.size(right)[0], HEADER_H // 2 - th.font.get_height() // 2), th.font,
               W.ACCENT if running else W.DIM)
        top = h - FOOTER_H
        pygame.draw.rect(s, W.PANEL, (0, top, w, FOOTER_H))
        pygame.draw.line(s, W.PANEL_EDGE, (0, top), (w, top))
        msg = self.state.message
        W.text(s, msg, (14, top + 5), th.font, W.BAD if self.state.message_is_error else W.TEXT, w - 28)
        W.text(s, self.state.hints, (14, top + 26), th.small, W.DIM, w - 28)
        if self.confirm is not None:
            self._draw_confirm()

    def close(self) -> None:
        """Stop every state's background work (the model worker); running jobs are the caller's."""
        for state in self.states.values():
            state.close()

    def run(self, frames: int | None = None, seconds: float | None = None) -> tuple[int, float]:
        """Run until quit, or for `frames` frames, or `seconds` seconds. Returns (frames run, seconds)."""
        import pygame

        n, dt, t0 = 0, 0.0, time.perf_counter()
        while not self.done and (frames is None or n < frames):
            if seconds is not None and time.perf_counter() - t0 >= seconds:
                break
            a = time.perf_counter()
            self.event_loop()
            self.update(dt)
            self.draw()
            pygame.display.flip()
            self.frame_ms.append(1e3 * (time.perf_counter() - a))
            dt = self.clock.tick(self.fps) / 1000.0
            n += 1
        return n, time.perf_counter() - t0


def build_app(cfg, screen, scene, start: str = "compare", sync: bool = False, cwd: str | None = None,
              models: list[str] | None = None) -> Control:
    """The Control with its four screens. sync: the compare screen waits for the models every frame.
    models: the compare screen's predictor specs (default: the config's model)."""
    from app.jobs import JobRunner
    from app.states.compare import CompareState
    from app.states.editor import EditorState
    from app.states.gallery import GalleryState
    from app.states.jobs import JobsState

    w, h = screen.get_size()
    from pathlib import Path

    history = Path(cwd or ".") / cfg.jobs_dir / "jobs.jsonl"  # the jobs of earlier sessions are listed too
    shared = Shared(cfg=cfg, theme=W.Theme(), jobs=JobRunner(cwd=cwd, tail=cfg.tail_lines, history=history),
                    body=body_rect(w, h))
    states = {"compare": CompareState(shared, scene, models or [cfg.model], sync=sync), "editor": EditorState(shared),
              "jobs": JobsState(shared), "gallery": GalleryState(shared)}
    if start != "compare":
        states["compare"].cleanup()  # its models wait until the user opens it
    return Control(screen, shared, states, start, cfg.fps)
