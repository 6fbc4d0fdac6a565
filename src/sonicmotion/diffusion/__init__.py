"""Latent diffusion maths, model-free: the v-objective on a cosine schedule and the samplers.

Classifier-free guidance needs the model's inputs, so it lives with the model
(``sonicmotion.models.diffusion_model.guided_denoiser``).
"""
