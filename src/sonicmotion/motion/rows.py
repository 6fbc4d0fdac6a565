"""Prompts-file rows with words and no path: the path from the words (docs/motion.md)."""

from __future__ import annotations

from dataclasses import replace

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.motion.parse import describe_to_motion
from sonicmotion.prompts import Prompt


def trajectory_from_words(prompt: Prompt, seconds: float | None = None) -> Prompt:
    """``prompt`` with a trajectory: its own when it has one, else the one its words give.

    The clip length is ``seconds``, else the row's ``seconds``, else 10 s. A path read from
    the words is also written into the row (``trajectory``, ``trajectory_from: "words"`` and
    ``content``, the prompt without its motion words, for retrieval), so the prompts file
    written next to the clips records it. Words that say nothing about position leave the
    trajectory None; the caller decides whether a path was needed. Contradictory words
    raise SonicMotionError.
    """
    if prompt.trajectory is not None:
        return prompt
    length = seconds if seconds is not None else (prompt.seconds if prompt.seconds is not None else CLIP_SECONDS)
    reading = describe_to_motion(prompt.prompt, seconds=length)
    if reading.trajectory is None:
        return prompt
    row = {**prompt.row, "trajectory": reading.to_dict()["trajectory"], "trajectory_from": "words",
           "content": reading.content}
    return replace(prompt, trajectory=reading.trajectory, row=row)
