"""Scene JSON: round trip and validation messages that name the field and the value."""

import json
import math

import pytest

from physics_llm.errors import SceneError
from physics_llm.sim.scene import Scene, load_scenes_jsonl


def base():
    return {"objects": [
        {"shape": "circle", "radius": 10, "material": "rubber", "position": [100, 100]},
        {"shape": "box", "size": [30, 20], "material": {"density": 0.7, "friction": 0.5, "elasticity": 0.4},
         "position": [300, 300], "velocity": [5, -5], "angle": 0.3, "angular_velocity": -1.0},
    ]}


def test_round_trip_keeps_every_field():
    s = Scene.from_dict(base())
    again = Scene.from_dict(json.loads(s.to_json()))
    assert again.to_dict() == s.to_dict()
    assert s.objects[1].mat.density == 0.7 and s.objects[0].mat.elasticity == 0.8
    assert s.gravity == (0.0, 981.0) and s.substeps == 4 and s.frames == 200


def test_mass_and_moment_from_material_and_shape():
    s = Scene.from_dict(base())
    assert s.objects[0].mass == pytest.approx(1.1 * math.pi * 100)
    assert s.objects[1].mass == pytest.approx(0.7 * 600)
    assert s.objects[1].moment == pytest.approx(0.7 * 600 * (900 + 400) / 12)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["objects"][0].update(radius=-2), "objects[0].radius must be > 0, got -2"),
    (lambda d: d["objects"][0].update(radius=0), "objects[0].radius must be > 0, got 0"),
    (lambda d: d["objects"][1].update(size=[30, 0]), "objects[1].size[1] must be > 0, got 0"),
    (lambda d: d["objects"][0].update(position=[float("nan"), 3]), "objects[0].position[0] must be a finite number"),
    (lambda d: d["objects"][0].update(material="unobtainium"), "unknown material 'unobtainium'"),
    (lambda d: d["objects"][0].pop("position"), "objects[0].position is missing"),
    (lambda d: d["objects"][0].update(colour="red"), "objects[0].colour is not a scene field"),
    (lambda d: d.update(gravty=[0, 1]), "gravty is not a scene field"),
    (lambda d: d["objects"][0].update(shape="triangle"), "objects[0].shape must be"),
    (lambda d: d["objects"][0].update(position=[5, 100]), "objects[0].position [5.0, 100.0] puts the circle outside"),
    (lambda d: d["objects"][0].update(position=[305, 300]), "objects[0] and objects[1] overlap"),
    (lambda d: d.update(objects=[]), "objects is empty"),
    (lambda d: d.update(objects=d["objects"] * 300), "at most 500"),
    (lambda d: d["objects"][1]["material"].update(elasticity=1.5), "objects[1].material.elasticity must be <= 1"),
])
def test_validation_names_field_and_value(mutate, message):
    d = base()
    mutate(d)
    with pytest.raises(SceneError) as e:
        Scene.from_dict(d)
    assert message in str(e.value)


def test_rotated_box_overlap_uses_real_geometry():
    # Bounding circles overlap but the boxes do not (long thin boxes side by side).
    d = {"objects": [
        {"shape": "box", "size": [100, 10], "material": "wood", "position": [200, 200]},
        {"shape": "box", "size": [100, 10], "material": "wood", "position": [200, 215]},
    ]}
    Scene.from_dict(d)
    d["objects"][1]["position"] = [200, 205]
    with pytest.raises(SceneError, match="overlap by 5.00 px"):
        Scene.from_dict(d)


def test_bad_json_and_jsonl_line_numbers(tmp_path):
    with pytest.raises(SceneError, match="not valid JSON"):
        Scene.from_json("{not json")
    p = tmp_path / "s.jsonl"
    good = Scene.from_dict(base()).to_json()
    bad = json.loads(good)
    bad["objects"][0]["radius"] = -1
    p.write_text(good + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(SceneError, match=r"line 3: objects\[0\].radius must be > 0"):
        load_scenes_jsonl(p)


def test_scenes_file_reads_exported_hybrid_lines(tmp_path):
    s = Scene.from_dict(base())
    p = tmp_path / "export.jsonl"
    p.write_text(json.dumps({"index": 0, "scene": s.to_dict(), "frames": [[[0] * 6] * 2]}) + "\n" + s.to_json() + "\n")
    a, b = load_scenes_jsonl(p)
    assert a.to_json() == b.to_json() == s.to_json()
