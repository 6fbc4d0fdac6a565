"""Checkpointable models: the spatial autoencoder and its discriminator.

Every module here imports torch; import the submodules you need directly
(``sonicmotion.models.autoencoder``), this package itself stays torch-free.
"""
