"""Latent diffusion: configs, the v-objective on a cosine schedule, samplers, guidance."""
