"""Corpora, synthetic sounds, the spatial dataset builder and training loaders."""
