"""Words to a path: where a sound is and how it moves, read from a description.

``describe_to_motion(text, seconds)`` gives a :class:`MotionReading`: the point-estimate
``trajectory`` (None when the words say nothing about position), the ``content`` (the text
without its motion words), what it ``understood`` and ``sample(rng, n)`` for paths drawn
from what the words allow. :func:`trajectory_from_words` fills a prompts-file row that has
words and no path. Torch-free; docs/motion.md lists the vocabulary and the defaults.
"""

from sonicmotion.motion.parse import describe_to_motion
from sonicmotion.motion.reading import MotionReading, Phrase
from sonicmotion.motion.rows import trajectory_from_words

__all__ = ["MotionReading", "Phrase", "describe_to_motion", "trajectory_from_words"]
