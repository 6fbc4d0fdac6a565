import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.runs import checkpoint_folder_name, checkpoint_folders, latest_checkpoint, resolve_checkpoint


def test_a_run_folder_resolves_to_its_newest_complete_checkpoint(tmp_path):
    checkpoints = tmp_path / "run" / "checkpoints"
    for name in (checkpoint_folder_name(900), checkpoint_folder_name(1000), ".partial-step-000002000", "notes"):
        (checkpoints / name).mkdir(parents=True)
    assert checkpoint_folder_name(1000) == "step-000001000"
    assert [p.name for p in checkpoint_folders(checkpoints)] == ["step-000000900", "step-000001000"]
    assert latest_checkpoint(checkpoints) == checkpoints / "step-000001000"
    assert resolve_checkpoint(tmp_path / "run") == checkpoints / "step-000001000"
    # A checkpoint folder (or a file) is taken as is.
    assert resolve_checkpoint(checkpoints / "step-000000900") == checkpoints / "step-000000900"
    assert latest_checkpoint(tmp_path / "missing") is None


def test_a_run_folder_without_checkpoints_is_a_one_line_error(tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(SonicMotionError, match="run folder has no checkpoints yet"):
        resolve_checkpoint(tmp_path / "run")
