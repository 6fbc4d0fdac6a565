"""Evaluation: the paper's Table 3 (autoencoder reconstruction, :mod:`.autoencoder`) and
Table 2 (generated audio, :mod:`.generation`) metrics on any model's output.

Torch-free at import: the maths (:mod:`.frechet`, :mod:`.kl`), the spatial errors
(:mod:`.spatial`) and the audio sets (:mod:`.sets`) need only numpy; the embedding
models (:mod:`.embeddings`) and the autoencoder evaluation import torch when used.
"""
