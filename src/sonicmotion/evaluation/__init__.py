"""Evaluation of generated FOA audio (paper §2.7.2, Table 2).

Torch-free at import: the maths (:mod:`.frechet`, :mod:`.kl`), the spatial errors
(:mod:`.spatial`) and the audio sets (:mod:`.sets`) need only numpy; the embedding
models (:mod:`.embeddings`) import torch and transformers when they are built.
"""
