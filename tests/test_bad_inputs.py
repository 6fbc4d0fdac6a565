"""The adversarial sweep's cases (issue 15), one test per numbered item: each bad input gets
one line and exit status 2, nothing partial is left and nothing is clobbered."""

import time
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sonicmotion.audio import MAX_DECODED_SAMPLES, read_audio
from sonicmotion.cli import main
from sonicmotion.errors import SonicMotionError


def one_line_exit_2(argv, capsys, match: str) -> str:
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err
    return err


def silent_flac(path, channels: int, rate: int, seconds: float) -> None:
    block = np.zeros((rate, channels), np.float32)
    with sf.SoundFile(path, "w", rate, channels, "PCM_16", format="FLAC") as f:
        for _ in range(int(seconds)):
            f.write(block)


def test_item_1_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, capsys):
    bomb = tmp_path / "bomb.flac"
    silent_flac(bomb, 8, 192_000, 40)  # 61 M samples of silence in a small file
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(SonicMotionError, match="more than this reader decodes"):
        read_audio(bomb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20_000_000 and time.perf_counter() - start < 1.0  # refused from the header
    one_line_exit_2(["spatialize", bomb, "-o", tmp_path / "out.wav", "--azimuth", 0], capsys, "cut the file first")
    assert not (tmp_path / "out.wav").exists()
    # Within the limit, the same reader decodes in blocks and returns everything.
    small = tmp_path / "small.flac"
    silent_flac(small, 2, 48_000, 3)
    assert read_audio(small).samples.shape == (2, 144_000)
    with pytest.raises(SonicMotionError, match=r"at least|more than"):
        read_audio(small, max_samples=100_000)
    assert MAX_DECODED_SAMPLES == 10 * 60 * 48_000 * 2


def test_item_1_the_studio_counts_decoded_samples_of_uploads(tmp_path):
    from sonicmotion.studio.server import RequestError
    from sonicmotion.studio.workspace import Workspace

    workspace = Workspace(tmp_path / "ws")
    bomb = tmp_path / "bomb.flac"
    silent_flac(bomb, 8, 192_000, 40)
    with pytest.raises(RequestError, match="not usable audio"):
        workspace.save_upload("bomb.flac", bomb.read_bytes())
    assert workspace.upload_names() == []
