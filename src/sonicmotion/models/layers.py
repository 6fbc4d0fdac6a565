"""Layers of the Oobleck/DAC-style autoencoder: SnakeBeta, weight-normed convolutions,
dilated residual units and the strided down/up-sampling blocks.

All tensors are [B, C, T] (batch, channels, time in samples or latent frames).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class _SnakeFunction(torch.autograd.Function):
    """``x + inv_beta · sin²(alpha · x)`` with a hand-written backward.

    Autograd's generic graph keeps several full-size intermediates and spends about
    twice the element-wise passes; here the backward needs one ``sin(2αx)`` and the
    saved ``sin²(αx)``: d/dx = 1 + inv_beta · α · sin(2αx), d/dα = inv_beta · x · sin(2αx),
    d/d(inv_beta) = sin²(αx).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: torch.Tensor, inv_beta: torch.Tensor) -> torch.Tensor:
        sin_sq = torch.sin(alpha * x).square_()
        ctx.save_for_backward(x, alpha, inv_beta, sin_sq)
        return torch.addcmul(x, inv_beta, sin_sq)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, alpha, inv_beta, sin_sq = ctx.saved_tensors
        needs_x, needs_alpha, needs_beta = ctx.needs_input_grad
        grad_x = grad_alpha = grad_beta = None
        reduce = [d for d in range(x.ndim) if alpha.shape[d] == 1]
        if needs_x or needs_alpha:
            grad_sin2 = torch.sin((2 * alpha) * x).mul_(grad)  # grad · sin(2αx)
            if needs_x:
                grad_x = torch.addcmul(grad, grad_sin2, inv_beta * alpha)
            if needs_alpha:
                grad_alpha = (grad_sin2.mul_(x)).sum(reduce, keepdim=True) * inv_beta
        if needs_beta:
            grad_beta = (grad * sin_sq).sum(reduce, keepdim=True)
        return grad_x, grad_alpha, grad_beta


class SnakeBeta(nn.Module):
    """Snake activation with separate frequency and magnitude, per channel.

    ``y = x + sin²(α·x) / β`` with ``α = exp(log_alpha)``, ``β = exp(log_beta)``. Both are
    stored in log scale (initialised to 0, so α = β = 1), the parametrisation of BigVGAN
    and Stable Audio's Oobleck.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.log_alpha.exp()
        # 1e-9 as in the reference implementations: keeps 1/β finite if β underflows.
        inv_beta = (self.log_beta.exp() + 1e-9).reciprocal()
        if torch.is_autocast_enabled(x.device.type):
            # Under autocast keep the generic graph: dtype handling is autocast's business.
            return torch.addcmul(x, inv_beta, torch.sin(alpha * x).square())
        return _SnakeFunction.apply(x, alpha.to(x.dtype), inv_beta.to(x.dtype))


class _WeightNorm:
    """Mixin: the weight is ``g · v / ‖v‖`` with the norm over all dims but 0.

    Parameters are named ``weight_g`` and ``weight_v`` (the names of
    ``torch.nn.utils.weight_norm``, so checkpoints from that API load as they are).
    """

    def _setup_weight_norm(self) -> None:
        weight = self.weight
        del self.weight
        self.weight_v = nn.Parameter(weight.detach().clone())
        self.weight_g = nn.Parameter(torch.norm_except_dim(weight.detach(), 2, 0).clone())

    def normalised_weight(self) -> torch.Tensor:
        return torch._weight_norm(self.weight_v, self.weight_g, 0)


class WeightNormConv1d(_WeightNorm, nn.Conv1d):
    """``nn.Conv1d`` with weight normalisation; [B, C_in, T] -> [B, C_out, T']."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_weight_norm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalised_weight(), self.bias)


class WeightNormConvTranspose1d(_WeightNorm, nn.ConvTranspose1d):
    """``nn.ConvTranspose1d`` with weight normalisation (norm per input channel, dim 0)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_weight_norm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose1d(
            x, self.normalised_weight(), self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation,
        )


class ResidualUnit(nn.Module):
    """Snake -> dilated conv (kernel 7) -> Snake -> 1x1 conv, plus the input. Keeps [B, C, T]."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.act_in = SnakeBeta(channels)
        self.conv_dilated = WeightNormConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation)
        self.act_out = SnakeBeta(channels)
        self.conv_pointwise = WeightNormConv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_pointwise(self.act_out(self.conv_dilated(self.act_in(x))))


DILATIONS = (1, 3, 9)


class EncoderBlock(nn.Module):
    """Three residual units (dilations 1, 3, 9), Snake, strided conv.

    [B, C_in, T] -> [B, C_out, T / stride].
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.residual_units = nn.ModuleList(ResidualUnit(in_channels, d) for d in DILATIONS)
        self.act = SnakeBeta(in_channels)
        self.downsample = WeightNormConv1d(
            in_channels, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for unit in self.residual_units:
            x = unit(x)
        return self.downsample(self.act(x))


class DecoderBlock(nn.Module):
    """Snake, transposed strided conv, three residual units (dilations 1, 3, 9).

    [B, C_in, T] -> [B, C_out, T · stride].
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.act = SnakeBeta(in_channels)
        self.upsample = WeightNormConvTranspose1d(
            in_channels, out_channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)
        )
        self.residual_units = nn.ModuleList(ResidualUnit(out_channels, d) for d in DILATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.upsample(self.act(x))
        for unit in self.residual_units:
            x = unit(x)
        return x
