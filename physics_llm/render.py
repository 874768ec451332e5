"""The one renderer: a scene's objects at a state -> RGB array (H, W, 3) uint8 or a pygame surface.

World and image share screen coordinates (x right, y down), so a world point p
lands at pixel p * scale. A box of size (w, h) at angle a has its corners
(+-w/2, +-h/2) rotated by a, as in Pymunk (Vec2d.rotated: x' = x cos a - y sin a,
y' = x sin a + y cos a); a circle's radius line points along its body x-axis,
(cos a, sin a), so spin is visible.

Drawing is plain PIL (no anti-aliasing): few distinct colours keep GIFs small
and palette quantisation exact. Used by the app (via `to_surface`) and by
physics_llm/gifs.py. Every colour either draws is here, and so is the GIF palette.
"""

from __future__ import annotations

import math

import numpy as np

from physics_llm.sim.materials import DENSITY_RANGE, MATERIALS
from physics_llm.sim.scene import Scene
from physics_llm.sim.state import ANGLE, X, Y

BACKGROUND = (22, 24, 30)
WALL_COLOR = (110, 116, 128)
MATERIAL_COLORS: dict[str, tuple[int, int, int]] = {
    "rubber": (214, 78, 96),
    "wood": (186, 136, 82),
    "steel": (150, 164, 184),
    "ice": (150, 222, 244),
    "stone": (128, 124, 116),
    "cork": (222, 190, 132),
    "plastic": (236, 204, 64),
}
# Explicit {density, ...} materials: a light-blue -> magenta ramp over log density,
# in DENSITY_LEVELS steps so a GIF palette holds every one exactly.
DENSITY_LEVELS = 8
_RAMP_LIGHT, _RAMP_HEAVY = (120, 200, 255), (200, 60, 200)
DENSITY_COLORS = [
    tuple(int(round(a + (b - a) * k / (DENSITY_LEVELS - 1))) for a, b in zip(_RAMP_LIGHT, _RAMP_HEAVY))
    for k in range(DENSITY_LEVELS)
]
# The comparison views (physics_llm/gifs.py, the app's compare screen): truth green, prediction blue.
TRUTH = (80, 210, 100)  # green
PRED = (70, 140, 255)  # blue
TRUTH_DIM = (40, 110, 56)  # truth under the prediction in the overlay panel
ERROR = (240, 60, 50)  # red: true -> predicted position
UNPARSED = (150, 150, 150)  # grey, hollow: objects the model did not produce
# The comparison GIF's strip of plots: text, background, axes.
TEXT = (235, 235, 235)
STRIP_BG = (34, 37, 45)
AXIS = (90, 96, 108)
WALL_WIDTH = 3  # px in the image, whatever the scale
# Predictions can be wild; PIL coordinates must stay bounded, and a body this far out is off-image anyway.
_COORD_LIMIT = 1e5

assert set(MATERIAL_COLORS) == set(MATERIALS), "every named material needs a colour"


def density_color(density: float) -> tuple[int, int, int]:
    """Colour of an explicit material: DENSITY_COLORS step by log density within DENSITY_RANGE."""
    lo, hi = math.log(DENSITY_RANGE[0]), math.log(DENSITY_RANGE[1])
    t = (math.log(max(density, 1e-12)) - lo) / (hi - lo)
    k = int(round(min(max(t, 0.0), 1.0) * (DENSITY_LEVELS - 1)))
    return DENSITY_COLORS[k]


def line_color(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    """The radius line on a filled circle: the fill darkened, readable on every material colour."""
    return tuple(c // 3 for c in fill)


def palette_colors() -> list[tuple[int, int, int]]:
    """Every colour a GIF is drawn with, unique, in a fixed order: what `Renderer` draws with its default
    colours, then the comparison and strip colours and the radius lines of circles drawn in TRUTH, PRED
    and TRUTH_DIM."""
    fills = list(MATERIAL_COLORS.values()) + DENSITY_COLORS
    colors = [BACKGROUND, WALL_COLOR] + fills + [line_color(c) for c in fills]
    colors += [TRUTH, PRED, TRUTH_DIM, ERROR, UNPARSED, TEXT, STRIP_BG, AXIS]
    colors += [line_color(c) for c in (TRUTH, PRED, TRUTH_DIM)]
    return list(dict.fromkeys(colors))  # unique, order kept


def palette_image():
    """A PIL P-mode image whose palette is palette_colors(), padded with BACKGROUND to a power of two:
    every frame of a GIF maps onto it exactly (physics_llm/gifs.py)."""
    from PIL import Image

    colors = palette_colors()
    size = 1 << max(1, (len(colors) - 1).bit_length())
    colors += [BACKGROUND] * (size - len(colors))
    pal = Image.new("P", (1, 1))
    pal.putpalette([c for rgb in colors for c in rgb])
    return pal


class Renderer:
    """Draws one scene's objects; geometry that does not change (shapes, colours) is computed once.

    scale: image pixels per world pixel (1.0: an 800x600 world gives an 800x600 image).
    """

    def __init__(self, scene: Scene, scale: float = 1.0):
        self.scene = scene
        self.scale = float(scale)
        self.size = (max(1, int(round(scene.width * scale))), max(1, int(round(scene.height * scale))))  # (W, H)
        objs = scene.objects
        self.is_circle = np.array([o.shape == "circle" for o in objs], dtype=bool)  # (N,)
        self.radius = np.array([o.radius if o.shape == "circle" else 0.0 for o in objs]) * self.scale  # (N,)
        half = np.array([(0.5 * o.size[0], 0.5 * o.size[1]) if o.shape == "box" else (0.0, 0.0) for o in objs])
        half = half.reshape(-1, 2)  # (N, 2), also for a scene with no objects yet (the app's editor)
        signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
        self.corners = half[:, None, :] * signs[None] * self.scale  # (N, 4, 2) body-frame corners, image px
        self.colors = [MATERIAL_COLORS[o.material] if isinstance(o.material, str) else density_color(o.mat.density)
                       for o in objs]

    def blank(self):
        """A new background image (PIL RGB, size (W, H)) with the walls as a border when the scene has walls."""
        from PIL import Image, ImageDraw

        img = Image.new("RGB", self.size, BACKGROUND)
        if self.scene.walls is not None:
            w, h = self.size
            ImageDraw.Draw(img).rectangle([0, 0, w - 1, h - 1], outline=WALL_COLOR, width=WALL_WIDTH)
        return img

    def draw(self, img, state: np.ndarray, color: tuple[int, int, int] | None = None, outline: bool = False,
             width: int = 1, alpha: float = 1.0, select: np.ndarray | None = None) -> None:
        """Draw the objects at `state` (N, 6) onto `img` (PIL RGB, from `blank()`), in place.

        color: one colour for every object (None: material colours). outline: edges only, `width` px.
        alpha: 0-1 opacity (below 1 the objects are blended over what is already drawn).
        select: (N,) bool, draw only these objects. Objects with non-finite x, y or angle are skipped.
        """
        from PIL import Image, ImageDraw

        s = np.asarray(state, dtype=np.float64)
        keep = np.isfinite(s[:, [X, Y, ANGLE]]).all(axis=1)
        if select is not None:
            keep &= np.asarray(select, dtype=bool)
        if not keep.any():
            return
        layer = img if alpha >= 1.0 else Image.new("RGBA", img.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        opacity = (int(round(255 * max(alpha, 0.0))),) if layer is not img else ()  # RGB ink is a 3-tuple
        pos = np.clip(s[:, [X, Y]] * self.scale, -_COORD_LIMIT, _COORD_LIMIT)  # (N, 2)
        cos, sin = np.cos(s[:, ANGLE]), np.sin(s[:, ANGLE])
        cx, cy = self.corners[..., 0], self.corners[..., 1]  # (N, 4)
        poly = np.stack([pos[:, :1] + cx * cos[:, None] - cy * sin[:, None],
                         pos[:, 1:] + cx * sin[:, None] + cy * cos[:, None]], axis=-1)  # (N, 4, 2)
        tip = pos + self.radius[:, None] * np.stack([cos, sin], axis=1)  # (N, 2) end of the radius line
        # PIL truncates float coordinates; rounding keeps a shape centred on its pixel whatever float32 noise
        # (cos(pi/2) of a float32 angle is -4e-8). tolist() once is far faster than per-element conversion.
        pos_l, poly_l, tip_l = np.rint(pos).tolist(), np.rint(poly).tolist(), np.rint(tip).tolist()
        rad_l = np.rint(self.radius).tolist()
        for i in np.flatnonzero(keep).tolist():
            c = color if color is not None else self.colors[i]
            fill = None if outline else (*c, *opacity)
            edge = (*c, *opacity) if outline else None
            x, y = pos_l[i]
            if self.is_circle[i]:
                r = rad_l[i]
                d.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=edge, width=width)
                lc = c if outline else line_color(c)
                d.line([x, y, *tip_l[i]], fill=(*lc, *opacity), width=width)
            else:
                d.polygon([tuple(p) for p in poly_l[i]], fill=fill, outline=edge, width=width)
        if layer is not img:
            img.paste(Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB"))

    def frame(self, state: np.ndarray, color: tuple[int, int, int] | None = None, outline: bool = False) -> np.ndarray:
        """The scene at `state` (N, 6) as an RGB array (H, W, 3) uint8."""
        img = self.blank()
        self.draw(img, state, color=color, outline=outline)
        return np.asarray(img)


def to_surface(array: np.ndarray):
    """RGB array (H, W, 3) uint8 -> pygame.Surface of size (W, H) (pixels copied)."""
    import pygame

    a = np.ascontiguousarray(array, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"to_surface needs an (H, W, 3) uint8 array, got shape {a.shape}")
    h, w, _ = a.shape
    return pygame.image.frombytes(a.tobytes(), (w, h), "RGB")
