"""SonicMotion: moving 3-D soundscapes in first-order Ambisonics."""

__version__ = "0.1.0"
