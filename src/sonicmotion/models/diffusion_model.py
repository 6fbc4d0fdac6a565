"""The conditioned diffusion model: conditioners + diffusion transformer in one module.

The frozen text encoder and the pretransform stay outside (they are not trained and
are referenced by name, not saved with the weights). Inputs arrive as
:class:`ConditionInputs` (built by :func:`condition_inputs` from prompts' embeddings,
timing and trajectories); :meth:`ConditionedDiffusionModel.forward` predicts v.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
import torch
from torch import nn

from sonicmotion.diffusion.objective import v_to_x0
from sonicmotion.diffusion.sampling import Denoiser
from sonicmotion.errors import SonicMotionError
from sonicmotion.models.config import DiffusionModelConfig
from sonicmotion.models.conditioners import NumberEmbedder, PositionConditioner, state_matrix
from sonicmotion.models.dit import DiffusionTransformer
from sonicmotion.spatial import Trajectory


@dataclass
class ConditionInputs:
    """Raw conditioning for a batch of B clips (all tensors on one device).

    text [B, L, text_dim] / text_mask [B, L] from the frozen encoder; seconds_start,
    seconds_total [B]; position [B, R, T] and frame_position [B, R, F] state matrices
    (R = ``config.position.rows``: azimuth, elevation and any distance bins)
    (parametric only); drop_text / drop_position [B] bool replace that condition by its
    null (classifier-free guidance).
    """

    text: torch.Tensor
    text_mask: torch.Tensor
    seconds_start: torch.Tensor
    seconds_total: torch.Tensor
    position: torch.Tensor | None = None
    frame_position: torch.Tensor | None = None
    drop_text: torch.Tensor | None = None
    drop_position: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.text.shape[0]

    def dropped(self) -> "ConditionInputs":
        """The null (unconditional) version: text and position dropped, timing kept."""
        ones = torch.ones(self.batch_size, dtype=torch.bool, device=self.text.device)
        return replace(self, drop_text=ones, drop_position=ones)

    @staticmethod
    def cat(parts: Sequence["ConditionInputs"]) -> "ConditionInputs":
        def join(name: str):
            values = [getattr(p, name) for p in parts]
            if any(v is None for v in values):
                if name.startswith("drop"):
                    values = [
                        torch.zeros(p.batch_size, dtype=torch.bool, device=p.text.device) if v is None else v
                        for p, v in zip(parts, values)
                    ]
                else:
                    return None
            return torch.cat(values)

        return ConditionInputs(**{name: join(name) for name in ConditionInputs.__dataclass_fields__})


def condition_inputs(
    config: DiffusionModelConfig,
    text: torch.Tensor,
    text_mask: torch.Tensor,
    frames: int,
    trajectories: Sequence[Trajectory | dict | None] | None,
    seconds_start: Sequence[float] | None = None,
    seconds_total: Sequence[float] | None = None,
    downsampling_ratio: int = 1,
) -> ConditionInputs:
    """Assemble :class:`ConditionInputs`; builds state matrices for a parametric model.

    ``frames`` latent frames of ``downsampling_ratio`` samples each; a missing trajectory
    (None) on a parametric model marks that clip's position as dropped.
    """
    b, device = text.shape[0], text.device
    start = torch.tensor(list(seconds_start) if seconds_start is not None else [0.0] * b, device=device)
    total = torch.tensor(
        list(seconds_total) if seconds_total is not None else [config.sample_seconds] * b, device=device
    )
    inputs = ConditionInputs(text, text_mask, start.float(), total.float())
    if not config.parametric:
        # The model's own guard (training conditions here too); generators refuse such a request
        # earlier, with the same words, in generation.check_requests.
        if trajectories is not None and any(t is not None for t in trajectories):
            raise SonicMotionError(
                "this is a descriptive model: it takes no trajectory (describe the position in the "
                "prompt, or use a parametric model)"
            )
        return inputs
    trajectories = list(trajectories) if trajectories is not None else [None] * b
    if len(trajectories) != b:
        raise SonicMotionError(f"got {len(trajectories)} trajectories for {b} prompts")
    frame_seconds = downsampling_ratio / config.sample_rate
    frame_times = (np.arange(frames) + 0.5) * frame_seconds
    rows = config.position.rows
    position = np.zeros((b, rows, config.position.time_steps), dtype=np.float32)
    frame_position = np.zeros((b, rows, frames), dtype=np.float32)
    dropped = np.zeros(b, dtype=bool)
    for i, trajectory in enumerate(trajectories):
        if trajectory is None:
            dropped[i] = True
            continue
        if isinstance(trajectory, dict):
            trajectory = Trajectory.from_dict(trajectory)
        position[i] = state_matrix(trajectory, config.position, config.sample_seconds)
        frame_position[i] = state_matrix(trajectory, config.position, config.sample_seconds, times=frame_times)
    inputs.position = torch.from_numpy(position).to(device)
    inputs.frame_position = torch.from_numpy(frame_position).to(device)
    inputs.drop_position = torch.from_numpy(dropped).to(device)
    return inputs


class ConditionedDiffusionModel(nn.Module):
    """Text projection, timing and position conditioners, and the DiT.

    ``forward(x_t [B, C, F], t [B], inputs)`` -> v [B, C, F].
    """

    def __init__(self, config: DiffusionModelConfig, text_dim: int, latent_channels: int):
        super().__init__()
        self.config = config
        self.text_dim = int(text_dim)
        self.latent_channels = int(latent_channels)
        dim = config.dit.cond_dim
        self.text_proj = nn.Linear(text_dim, dim)
        self.seconds_start = NumberEmbedder(dim, config.max_seconds)
        self.seconds_total = NumberEmbedder(dim, config.max_seconds)
        self.global_proj = nn.Linear(2 * dim, dim)
        frame_channels = 0
        if config.parametric:
            self.position = PositionConditioner(config.position, dim)
            if config.position.frame_aligned:
                frame_channels = config.position.rows
        else:
            self.position = None
        self.dit = DiffusionTransformer(config.dit, latent_channels, dim, frame_channels)

    def conditioning(self, inputs: ConditionInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """-> (global_cond [B, D], context [B, L', D], context_mask [B, L'], frame_cond or None)."""
        text, mask = inputs.text, inputs.text_mask.bool()
        b = text.shape[0]
        if inputs.drop_text is not None and inputs.drop_text.any():
            drop = inputs.drop_text.bool()
            text = torch.where(drop[:, None, None], torch.zeros_like(text), text)
            null_mask = torch.zeros_like(mask)
            null_mask[:, 0] = True  # the null prompt is one zero token, whatever the prompt length
            mask = torch.where(drop[:, None], null_mask, mask)
        tokens = self.text_proj(text)
        start = self.seconds_start(inputs.seconds_start)
        total = self.seconds_total(inputs.seconds_total)
        global_cond = self.global_proj(torch.cat([start, total], dim=-1)[:, 0])
        context, context_mask = [tokens], [mask]
        frame_cond = None
        if self.position is not None:
            if inputs.position is None:
                raise SonicMotionError("a parametric model needs position state matrices")
            keep = torch.ones(b, dtype=torch.bool, device=text.device)
            if inputs.drop_position is not None:
                keep = ~inputs.drop_position.bool()
            fused = self.position(inputs.position.to(tokens.dtype), tokens)
            context.append(fused)
            context_mask.append(mask & keep[:, None])
            if inputs.frame_position is not None and self.dit.frame_proj is not None:
                frame_cond = inputs.frame_position * keep[:, None, None].to(inputs.frame_position.dtype)
        ones = torch.ones(b, 1, dtype=torch.bool, device=text.device)
        context += [start, total]
        context_mask += [ones, ones]
        return global_cond, torch.cat(context, dim=1), torch.cat(context_mask, dim=1), frame_cond

    def forward(self, x: torch.Tensor, t: torch.Tensor, inputs: ConditionInputs) -> torch.Tensor:
        global_cond, context, context_mask, frame_cond = self.conditioning(inputs)
        return self.dit(x, t, global_cond, context, context_mask, frame_cond)

    def position_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at the position learning rate (the position cross-attention)."""
        return list(self.position.parameters()) if self.position is not None else []


def guided_denoiser(model, inputs, guidance: float) -> Denoiser:
    """A denoiser for ``model(x_t, t [B], inputs) -> v`` with classifier-free guidance.

    v = v_uncond + guidance * (v_cond - v_uncond), where the unconditional pass drops
    text and position (timing kept); guidance 1 runs only the conditional pass.
    """
    both = ConditionInputs.cat([inputs, inputs.dropped()]) if guidance != 1.0 else inputs

    def denoise(x: torch.Tensor, t: float) -> torch.Tensor:
        batch = x.shape[0]
        if guidance != 1.0:
            x_in = torch.cat([x, x])
            t_in = torch.full((2 * batch,), t, device=x.device, dtype=torch.float32)
            v_cond, v_uncond = model(x_in, t_in, both).float().chunk(2)
            v = v_uncond + guidance * (v_cond - v_uncond)
        else:
            v = model(x, torch.full((batch,), t, device=x.device, dtype=torch.float32), both).float()
        return v_to_x0(x.float(), v, torch.full((batch,), t, device=x.device, dtype=torch.float64))

    return denoise
