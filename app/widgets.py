"""Small pygame widgets: theme (fonts, colours), text, buttons, choices, steppers, a list picker, a plot.

Widgets hold a rect and their value; `handle(event)` returns True when the event
was theirs; `draw(surface, theme)` draws them. pygame is imported inside functions
(nothing happens at import time); a Theme needs pygame.font initialised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BG = (22, 24, 30)  # the renderer's background, so panels blend into the window
PANEL = (32, 35, 43)
PANEL_EDGE = (58, 62, 74)
TEXT = (225, 228, 235)
DIM = (140, 146, 160)
ACCENT = (96, 165, 250)
OK = (110, 200, 120)
WARN = (240, 190, 80)
BAD = (240, 96, 86)
BUTTON = (48, 52, 64)
BUTTON_HOVER = (62, 68, 84)
BUTTON_ON = (52, 92, 150)


def _font(names: str, size: int):
    import pygame

    path = None
    for name in names.split(","):
        path = pygame.font.match_font(name)
        if path:
            break
    return pygame.font.Font(path, size)  # None: pygame's bundled font


class Theme:
    """Fonts of the app (DejaVu when installed, else pygame's own)."""

    def __init__(self):
        self.font = _font("dejavusans,freesans,arial", 15)
        self.small = _font("dejavusans,freesans,arial", 13)
        self.big = _font("dejavusans,freesans,arial", 18)
        self.mono = _font("dejavusansmono,freemono,couriernew,monospace", 13)


def text(surface, s: str, pos: tuple[int, int], font, color=TEXT, max_width: int | None = None):
    """Draw one line at pos (top-left); clipped with an ellipsis to max_width. Returns its rect."""
    if max_width is not None and font.size(s)[0] > max_width:
        while s and font.size(s + "…")[0] > max_width:
            s = s[:-1]
        s += "…"
    img = font.render(s, True, color)
    return surface.blit(img, pos)


def lines(surface, rows: list[str], rect, font, color=TEXT, gap: int = 2) -> int:
    """Draw rows top-down inside rect, clipped to its width and height. Returns how many fit."""
    y, h = rect.y, font.get_linesize() + gap
    n = 0
    for row in rows:
        if y + h > rect.bottom + gap:
            break
        text(surface, row, (rect.x, y), font, color, max_width=rect.width)
        y += h
        n += 1
    return n


def wrap(s: str, font, width: int) -> list[str]:
    """Split s at spaces into lines no wider than width; a word wider than a line is split between
    characters (long paths), so nothing is cut off."""
    rows = [""]
    for word in s.split():
        if rows[-1] and font.size(rows[-1] + " " + word)[0] > width:
            rows.append(word)
        else:
            rows[-1] = (rows[-1] + " " + word).strip()
        while font.size(rows[-1])[0] > width and len(rows[-1]) > 1:  # a long word: break it
            cut = len(rows[-1]) - 1
            while cut > 1 and font.size(rows[-1][:cut])[0] > width:
                cut -= 1
            rows[-1:] = [rows[-1][:cut], rows[-1][cut:]]
    return rows


def panel(surface, rect, title: str | None = None, theme: Theme | None = None) -> None:
    """A filled, outlined card; its title in the top-left corner."""
    import pygame

    pygame.draw.rect(surface, PANEL, rect, border_radius=6)
    pygame.draw.rect(surface, PANEL_EDGE, rect, width=1, border_radius=6)
    if title and theme is not None:
        text(surface, title, (rect.x + 10, rect.y + 7), theme.big, TEXT)


def _hover(rect) -> bool:
    import pygame

    return pygame.mouse.get_focused() and rect.collidepoint(pygame.mouse.get_pos())


def _clicked(event, rect) -> bool:
    import pygame

    return event.type == pygame.MOUSEBUTTONDOWN and event.button == 1 and rect.collidepoint(event.pos)


@dataclass
class Button:
    """A clickable label. `on` draws it highlighted (a selected tab, a chosen option)."""

    rect: object
    label: str
    on: bool = False
    enabled: bool = True

    def handle(self, event) -> bool:
        return self.enabled and _clicked(event, self.rect)

    def draw(self, surface, theme: Theme) -> None:
        import pygame

        color = BUTTON_ON if self.on else (BUTTON_HOVER if self.enabled and _hover(self.rect) else BUTTON)
        pygame.draw.rect(surface, color, self.rect, border_radius=5)
        img = theme.font.render(self.label, True, TEXT if self.enabled else DIM)
        surface.blit(img, img.get_rect(center=self.rect.center))


@dataclass
class Choice:
    """One of several options, shown as `label: value`; a click moves to the next one."""

    rect: object
    label: str
    options: list[str]
    index: int = 0

    @property
    def value(self) -> str:
        return self.options[self.index]

    def handle(self, event) -> bool:
        if _clicked(event, self.rect):
            self.index = (self.index + 1) % len(self.options)
            return True
        return False

    def draw(self, surface, theme: Theme) -> None:
        Button(self.rect, f"{self.label}: {self.value}").draw(surface, theme)


@dataclass
class Stepper:
    """A whole number in [lo, hi] with - and + buttons (a step of `step`)."""

    rect: object
    label: str
    value: int
    lo: int
    hi: int
    step: int = 1

    def _parts(self):
        import pygame

        r = self.rect
        return pygame.Rect(r.right - 2 * r.height - 4, r.y, r.height, r.height), \
            pygame.Rect(r.right - r.height, r.y, r.height, r.height)

    def handle(self, event) -> bool:
        minus, plus = self._parts()
        if _clicked(event, minus):
            self.value = max(self.lo, self.value - self.step)
            return True
        if _clicked(event, plus):
            self.value = min(self.hi, self.value + self.step)
            return True
        return False

    def draw(self, surface, theme: Theme) -> None:
        minus, plus = self._parts()
        y = self.rect.centery - theme.font.get_height() // 2
        text(surface, f"{self.label}: {self.value}", (self.rect.x, y), theme.font)
        Button(minus, "-", enabled=self.value > self.lo).draw(surface, theme)
        Button(plus, "+", enabled=self.value < self.hi).draw(surface, theme)


@dataclass
class ListPicker:
    """A scrolling list; click, Up/Down or the mouse wheel move the selection.

    `handle` returns True when the event was the list's; `picked` is set to the index the
    user chose (a click or Enter), for the owner to act on and reset.
    """

    rect: object
    items: list[str] = field(default_factory=list)
    selected: int = 0
    row_h: int = 24
    top: int = 0
    picked: int | None = None
    keys: bool = True  # Up/Down/Enter move and pick (off where those keys mean something else)

    def set_items(self, items: list[str], selected: int | None = None) -> None:
        self.items = list(items)
        if selected is not None:
            self.selected = selected
        self.selected = min(max(self.selected, 0), max(len(self.items) - 1, 0))
        self._scroll_to(self.selected)

    @property
    def visible(self) -> int:
        return max(1, (self.rect.height - 8) // self.row_h)

    def _scroll_to(self, i: int) -> None:
        if i < self.top:
            self.top = i
        elif i >= self.top + self.visible:
            self.top = i - self.visible + 1
        self.top = max(0, min(self.top, max(len(self.items) - self.visible, 0)))

    def handle(self, event) -> bool:
        import pygame

        if not self.items:
            return False
        if event.type == pygame.MOUSEBUTTONDOWN and self.rect.collidepoint(event.pos):
            if event.button in (4, 5):  # wheel
                self.top = max(0, min(self.top + (1 if event.button == 5 else -1),
                                      max(len(self.items) - self.visible, 0)))
                return True
            if event.button == 1:
                i = self.top + (event.pos[1] - self.rect.y - 4) // self.row_h
                if 0 <= i < len(self.items):
                    self.selected = self.picked = i
                return True
        if self.keys and event.type == pygame.KEYDOWN:
            if event.key in (pygame.K_UP, pygame.K_DOWN):
                self.selected = min(max(self.selected + (1 if event.key == pygame.K_DOWN else -1), 0),
                                    len(self.items) - 1)
                self._scroll_to(self.selected)
                return True
            if event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                self.picked = self.selected
                return True
        return False

    def draw(self, surface, theme: Theme, empty: str = "(nothing yet)") -> None:
        import pygame

        pygame.draw.rect(surface, PANEL, self.rect, border_radius=5)
        pygame.draw.rect(surface, PANEL_EDGE, self.rect, width=1, border_radius=5)
        if not self.items:
            text(surface, empty, (self.rect.x + 8, self.rect.y + 6), theme.font, DIM, self.rect.width - 16)
            return
        for row, i in enumerate(range(self.top, min(self.top + self.visible, len(self.items)))):
            r = pygame.Rect(self.rect.x + 4, self.rect.y + 4 + row * self.row_h, self.rect.width - 8, self.row_h - 2)
            if i == self.selected:
                pygame.draw.rect(surface, BUTTON_ON, r, border_radius=4)
            text(surface, self.items[i], (r.x + 6, r.centery - theme.font.get_height() // 2), theme.font,
                 TEXT, r.width - 12)
        if len(self.items) > self.visible:  # a scroll bar says there is more
            h = self.rect.height - 8
            bar_h = max(12, h * self.visible // len(self.items))
            y = self.rect.y + 4 + (h - bar_h) * self.top // max(len(self.items) - self.visible, 1)
            pygame.draw.rect(surface, PANEL_EDGE, (self.rect.right - 6, y, 3, bar_h), border_radius=2)


def modal_list_event(owner, attr: str, event, on_pick) -> bool:
    """One event for the modal ListPicker held in owner.<attr>: Esc (which also clears the owner's
    message) or a click outside closes it; a pick closes it, then calls on_pick(index). Every key is
    the list's while it is open, so none reaches the screen behind it."""
    import pygame

    picker = getattr(owner, attr)
    if event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE:
        setattr(owner, attr, None)
        owner.say("")
        return True
    used = picker.handle(event)
    if picker.picked is not None:
        setattr(owner, attr, None)
        on_pick(picker.picked)
        return True
    if event.type == pygame.MOUSEBUTTONDOWN and not picker.rect.collidepoint(event.pos):
        setattr(owner, attr, None)
        return True
    return used or event.type == pygame.KEYDOWN


def range_labels(lo: float, hi: float, fmt: str = "{:.3g}") -> tuple[str, str]:
    """Labels of a y range: `fmt`, with more significant digits until top and bottom differ."""
    labels = fmt.format(hi), fmt.format(lo)
    digits = 3
    while labels[0] == labels[1] and digits < 12:
        digits += 1
        labels = f"{hi:.{digits}g}", f"{lo:.{digits}g}"
    return labels


def plot(surface, rect, title: str, series: list[tuple[np.ndarray, tuple]], theme: Theme,
         fmt: str = "{:.3g}", marker: int | None = None, length: int | None = None) -> None:
    """Line plot of series [(values (T,), colour)] sharing one y range (written left of it); NaNs leave gaps.

    length: the x axis spans frames 0..length-1 (default the longest series); marker: a vertical line there.
    """
    import pygame

    pygame.draw.rect(surface, PANEL, rect, border_radius=5)
    pygame.draw.rect(surface, PANEL_EDGE, rect, width=1, border_radius=5)
    text(surface, title, (rect.x + 8, rect.y + 5), theme.small, DIM, rect.width - 16)
    vals = [np.asarray(v, dtype=np.float64) for v, _ in series]
    finite = np.concatenate([v[np.isfinite(v)] for v in vals]) if vals else np.zeros(0)
    if finite.size == 0:
        return
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-9 * max(1.0, abs(hi)):
        lo, hi = lo - 1.0, hi + 1.0
    labels = range_labels(lo, hi, fmt)
    gutter = max(theme.small.size(s)[0] for s in labels) + 8  # the y range left of the plot, never under a line
    area = pygame.Rect(rect.x + 8 + gutter, rect.y + 26, rect.width - 16 - gutter, rect.height - 32)
    if area.width < 4 or area.height < 4:
        return
    pygame.draw.rect(surface, BG, area)
    text(surface, labels[0], (rect.x + 8, area.y - 2), theme.small, DIM)
    text(surface, labels[1], (rect.x + 8, area.bottom - theme.small.get_height() + 2), theme.small, DIM)
    n = length if length is not None else max(len(v) for v in vals)
    if marker is not None and 0 <= marker < n:
        mx = area.x + (area.width - 1) * marker / max(n - 1, 1)
        pygame.draw.line(surface, PANEL_EDGE, (mx, area.y), (mx, area.bottom - 1), 1)
    for v, (_, color) in zip(vals, series):
        if len(v) == 0:
            continue
        xs = area.x + (area.width - 1) * np.arange(len(v)) / max(n - 1, 1)
        ys = area.bottom - 1 - (area.height - 2) * (v - lo) / (hi - lo)
        ok = np.isfinite(ys)
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            pts = np.stack([xs[a:b], ys[a:b]], axis=1).tolist()
            if len(pts) > 1:
                pygame.draw.lines(surface, color, False, pts, 2)
            else:
                pygame.draw.circle(surface, color, pts[0], 2)
