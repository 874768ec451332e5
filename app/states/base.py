"""The screen-state interface the Control loop drives (Mekire's multi-scene template).

A state draws inside `body` (the window below the header, above the footer),
says which keys it knows in `hints`, and reports to the footer through
`message`. It sets `done` and `next` to switch screens and `quit` to end the app;
`persist` carries what states share (the scene, the model, the report to show).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.config import AppConfig
from app.jobs import JobRunner
from app.widgets import Theme


@dataclass
class Shared:
    """What every screen uses: the config, the fonts, the job runner and the body rect (pygame.Rect)."""

    cfg: AppConfig
    theme: Theme
    jobs: JobRunner
    body: object


class State:
    name = "state"
    hints = ""

    def __init__(self, shared: Shared):
        self.shared = shared
        self.cfg = shared.cfg
        self.theme = shared.theme
        self.done = False
        self.quit = False
        self.next: str | None = None
        self.persist: dict = {}
        self.message = ""
        self.message_is_error = False

    @property
    def body(self):
        return self.shared.body

    def say(self, message: str, error: bool = False) -> None:
        self.message, self.message_is_error = message, error

    def go(self, name: str) -> None:
        self.next, self.done = name, True

    def startup(self, persist: dict) -> None:
        self.persist = persist

    def cleanup(self) -> dict:
        self.done = False
        return self.persist

    def get_event(self, event) -> bool:
        """Handle one pygame event; True if it was used (the Control then ignores it)."""
        return False

    def update(self, dt: float) -> None:
        """Advance one frame; dt is the wall time since the last one (s)."""

    def draw(self, surface) -> None:
        """Draw the body."""

    def resize(self) -> None:
        """The window changed size (self.body is the new rect): lay the screen out again."""
        if hasattr(self, "_layout"):
            self._layout()

    def close(self) -> None:
        """The app is ending: stop background work (called once, whichever state is current)."""
