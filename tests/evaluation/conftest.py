"""Fixtures for the evaluation tests."""

from pathlib import Path

import pytest

from tests.evaluation.evaluation_helpers import build_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """MODELS_DIR with tiny random CLAP, VGGish and CNN14, built once per session."""
    return build_tiny_models(tmp_path_factory.mktemp("models"))
