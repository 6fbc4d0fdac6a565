"""The networks: the spatial autoencoder and its discriminator, the pretransforms, the
frozen text encoders, and the conditioned diffusion model (conditioners + DiT).

Every module but ``config`` imports torch; import the submodules you need directly
(``sonicmotion.models.autoencoder``), this package itself stays torch-free.
"""
