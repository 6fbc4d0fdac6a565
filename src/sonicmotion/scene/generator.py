"""Where a scene's prompt sources come from: a diffusion model or a captioned library.

Both are :class:`~sonicmotion.generation.Generator` s, used by the renderer as they are:
``pipeline.SonicMotionPipeline`` (a model folder; torch is imported only when a scene has
model sources) and ``retrieval.RetrieveAndPlace`` (the recording whose caption best matches
the prompt, placed exactly; no training). These loaders say what to give when there is none.
"""

from __future__ import annotations

from pathlib import Path

from sonicmotion.errors import SonicMotionError
from sonicmotion.generation import Generator, SamplingGenerator


def load_library_generator(path: str | Path | None) -> Generator:
    """Retrieve and place from the library at ``path``, with a clear error when there is none."""
    from sonicmotion.retrieval import open_library

    if path is None:
        raise SonicMotionError("this scene has library prompt sources: give --library DIR (a built dataset or a "
                               "manifest of recordings), or 'library:' in the scene file")
    return open_library(path)


def load_generator(model_dir: str | Path | None) -> SamplingGenerator:
    """The diffusion model in ``model_dir``, with a clear error when there is none."""
    if model_dir is None:
        raise SonicMotionError(
            "this scene has prompt sources, which need a diffusion model: give --model DIR "
            "(or 'model:' in the scene file), or retrieve them from a library (--library DIR, 'generator: library')"
        )
    if not Path(model_dir).exists():
        raise SonicMotionError(f"model folder {str(model_dir)!r} does not exist")
    try:
        from sonicmotion.pipeline import load_pipeline
    except ImportError as err:
        raise SonicMotionError(
            f"prompt sources need the diffusion model code and PyTorch ({err}); "
            "install with pip install 'sonicmotion[ml]', or use file sources only"
        ) from None
    return load_pipeline(Path(model_dir).resolve())
