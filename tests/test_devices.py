"""One device default (``auto``), one spelling and one check, for every command that runs models."""

import subprocess
import sys

import pytest
import torch

from sonicmotion.cli import build_parser
from sonicmotion.devices import AUTO, resolve_device
from sonicmotion.errors import SonicMotionError


def test_auto_is_cuda_when_torch_sees_a_gpu_else_cpu():
    assert resolve_device() == resolve_device(AUTO) == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_a_bad_device_is_one_line_naming_it():
    with pytest.raises(SonicMotionError, match=r"^--device 'nonsense' is not usable here \(") as err:
        resolve_device("nonsense")
    assert "\n" not in str(err.value)
    if not torch.cuda.is_available():
        with pytest.raises(SonicMotionError, match=r"--device 'cuda:1' is not usable here \(no CUDA device\)"):
            resolve_device("cuda:1")


def test_every_command_with_a_device_defaults_to_auto():
    parser = build_parser()
    for argv in (["generate", "x", "--model", "m", "-o", "o.wav"],
                 ["evaluate", "generation", "--generated", "g", "--prompts", "p", "--out", "o.json"],
                 ["evaluate", "autoencoder", "--checkpoint", "run", "--data", "d", "--out", "o.json"],
                 ["encode-latents", "--autoencoder", "a", "--data", "d", "--out", "o"]):
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # a command spelled differently in this version
            pytest.fail(f"cannot parse {argv}")
        assert args.device == AUTO, argv


def test_importing_the_helper_does_not_import_torch():
    code = "import sys, sonicmotion.devices; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
