"""The renderer: shapes, positions, Pymunk's rotation convention, colours, options, pygame surfaces."""

import math

import numpy as np
import pymunk
import pytest

from physics_llm.render import (BACKGROUND, DENSITY_COLORS, MATERIAL_COLORS, WALL_COLOR, Renderer, line_color,
                                to_surface)
from physics_llm.sim.generate import random_scene
from physics_llm.sim.materials import Material
from physics_llm.sim.scene import Scene, SceneObject, Walls


def circle(x, y, r=20.0, material="wood", angle=0.0):
    return SceneObject(shape="circle", radius=r, material=material, position=(x, y), angle=angle)


def box(x, y, w, h, angle=0.0, material="steel"):
    return SceneObject(shape="box", size=(w, h), material=material, position=(x, y), angle=angle)


def px(a, x, y):
    """The RGB tuple at image column x, row y."""
    return tuple(int(c) for c in a[y, x])


def test_shape_dtype_and_scale():
    scene = Scene(objects=[circle(100, 100)])
    a = Renderer(scene).frame(scene.initial_state())
    assert a.shape == (600, 800, 3) and a.dtype == np.uint8
    assert Renderer(scene, scale=0.5).frame(scene.initial_state()).shape == (300, 400, 3)


def test_circle_drawn_at_the_state_position_not_the_scene_position():
    scene = Scene(objects=[circle(200, 150, r=20)], walls=None)
    r = Renderer(scene)
    a = r.frame(scene.initial_state())
    wood = MATERIAL_COLORS["wood"]
    # angle 0: the radius line runs right from the centre along row 150, darker than the fill
    assert px(a, 200, 150) == line_color(wood)
    assert px(a, 210, 150) == line_color(wood)
    assert px(a, 200, 140) == wood and px(a, 190, 160) == wood
    assert px(a, 200, 175) == BACKGROUND and px(a, 600, 450) == BACKGROUND
    moved = scene.initial_state()
    moved[0, :2] = (600, 450)
    b = r.frame(moved)
    assert px(b, 600, 440) == wood and px(b, 200, 140) == BACKGROUND


def test_radius_line_follows_the_angle():
    scene = Scene(objects=[circle(300, 300, r=30, angle=math.pi / 2)], walls=None)
    a = Renderer(scene).frame(scene.initial_state())
    dark = line_color(MATERIAL_COLORS["wood"])
    # y points down, so angle +pi/2 puts the body x-axis straight down the screen
    assert px(a, 300, 320) == dark and px(a, 300, 280) != dark and px(a, 320, 300) != dark


def test_box_rotated_90_degrees():
    steel = MATERIAL_COLORS["steel"]
    flat = Scene(objects=[box(400, 300, 100, 20)], walls=None)
    upright = Scene(objects=[box(400, 300, 100, 20, angle=math.pi / 2)], walls=None)
    a, b = Renderer(flat).frame(flat.initial_state()), Renderer(upright).frame(upright.initial_state())
    assert px(a, 440, 300) == steel and px(a, 360, 300) == steel and px(a, 400, 340) == BACKGROUND
    assert px(b, 400, 340) == steel and px(b, 400, 260) == steel and px(b, 440, 300) == BACKGROUND
    assert px(b, 409, 300) == steel and px(b, 412, 300) == BACKGROUND  # 20 px wide once upright


def test_box_rotation_matches_pymunk():
    angle = 0.5
    scene = Scene(objects=[box(400, 300, 200, 10, angle=angle)], walls=None)
    a = Renderer(scene).frame(scene.initial_state())
    body = pymunk.Body(1, 1)
    body.position, body.angle = (400, 300), angle
    inside = body.local_to_world((80, 0))  # on the box's long axis, where Pymunk has it
    body.angle = -angle
    mirrored = body.local_to_world((80, 0))  # where the wrong rotation direction would put it
    assert px(a, round(inside.x), round(inside.y)) == MATERIAL_COLORS["steel"]
    assert px(a, round(mirrored.x), round(mirrored.y)) == BACKGROUND


def test_walls_border_and_explicit_material_colours():
    light = circle(100, 100, material=Material(density=0.24, friction=0.5, elasticity=0.5))
    heavy = circle(300, 100, material=Material(density=7.8, friction=0.5, elasticity=0.5))
    walled = Scene(objects=[light, heavy], walls=Walls())
    a = Renderer(walled).frame(walled.initial_state())
    assert px(a, 0, 0) == WALL_COLOR and px(a, 799, 599) == WALL_COLOR and px(a, 400, 599) == WALL_COLOR
    assert px(a, 100, 90) == DENSITY_COLORS[0] and px(a, 300, 90) == DENSITY_COLORS[-1]
    open_scene = Scene(objects=[light], walls=None)
    assert px(Renderer(open_scene).frame(open_scene.initial_state()), 0, 0) == BACKGROUND


def test_one_colour_outline_alpha_and_select():
    scene = Scene(objects=[box(200, 200, 60, 60), box(500, 200, 60, 60)], walls=None)
    r, s = Renderer(scene), scene.initial_state()
    green = (0, 200, 0)
    img = r.blank()
    r.draw(img, s, color=green, outline=True, width=2)
    a = np.asarray(img)
    assert px(a, 200, 200) == BACKGROUND and px(a, 170, 200) == green and px(a, 530, 200) == green
    img = r.blank()
    r.draw(img, s, color=green, alpha=0.5, select=np.array([True, False]))
    a = np.asarray(img)
    half = tuple((b + g) / 2 for b, g in zip(BACKGROUND, green))
    assert np.allclose(px(a, 200, 200), half, atol=1)
    assert px(a, 500, 200) == BACKGROUND


def test_non_finite_and_far_away_objects_are_skipped():
    scene = Scene(objects=[circle(100, 100), circle(300, 300)], walls=None)
    s = scene.initial_state()
    s[0, 0] = np.nan
    s[1, :2] = (1e30, -1e30)
    a = Renderer(scene).frame(s)
    assert (a == np.array(BACKGROUND, dtype=np.uint8)).all()


def test_identical_calls_identical_arrays():
    scene = random_scene(3)
    r = Renderer(scene, scale=0.5)
    s = scene.initial_state()
    a, b = r.frame(s), Renderer(scene, scale=0.5).frame(s)
    assert np.array_equal(a, b)
    assert (a != np.array(BACKGROUND, dtype=np.uint8)).any(axis=2).sum() > 100  # something was drawn


def test_to_surface_under_dummy_video_driver():
    import pygame
    scene = Scene(objects=[circle(200, 150)], walls=Walls())
    a = Renderer(scene, scale=0.5).frame(scene.initial_state())
    surf = to_surface(a)
    assert isinstance(surf, pygame.Surface) and surf.get_size() == (400, 300)
    for x, y in [(100, 70), (0, 0), (300, 250)]:
        assert tuple(surf.get_at((x, y)))[:3] == px(a, x, y)
    with pytest.raises(ValueError, match="H, W, 3"):
        to_surface(a[..., 0])
