"""io.replace_dir, the one directory swap (swap_dir's and eval's): whole or put back."""

import pytest

from physics_llm.io import replace_dir


def tree(d):
    return sorted((p.relative_to(d).as_posix(), p.read_text()) for p in d.rglob("*") if p.is_file())


def test_an_existing_directory_is_replaced_whole(tmp_path):
    out, tmp = tmp_path / "report", tmp_path / ".report.tmp-1.abc"
    out.mkdir()
    (out / "old.md").write_text("old")
    (out / "sub").mkdir()
    (out / "sub" / "x").write_text("x")
    tmp.mkdir()
    (tmp / "report.md").write_text("new")
    replace_dir(tmp, out)
    assert tree(out) == [("report.md", "new")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no temp, no old copy left


def test_a_missing_target_is_created(tmp_path):
    tmp = tmp_path / "t"
    tmp.mkdir()
    (tmp / "a").write_text("a")
    replace_dir(tmp, tmp_path / "new")
    assert tree(tmp_path / "new") == [("a", "a")] and not tmp.exists()


def test_when_the_new_one_cannot_be_renamed_the_old_one_is_put_back(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "metrics.csv").write_text("kept")
    with pytest.raises(FileNotFoundError):
        replace_dir(tmp_path / "gone", out)  # the temp vanished: the rename fails
    assert tree(out) == [("metrics.csv", "kept")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
