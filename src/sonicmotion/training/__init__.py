"""Training: losses, learning-rate schedules, EMA, checkpoints with exact resume, and loops.

Everything here imports torch; import the submodules directly.
"""
