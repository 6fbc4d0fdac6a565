"""Listening to FOA: binaural, stereo and UHJ renderings, and exports for DAWs and 360° video."""
