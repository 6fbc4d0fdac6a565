"""Which pretrained files a piece of work needs, and whether each is in place (``sonicmotion weights check``).

Each item is found by the very function its loader calls (``models.text.text_encoder_folder``,
``evaluation.embeddings.clap_folder`` / ``vggish_weights`` / ``cnn14_weights`` /
``aisfx_checkpoint``, ``baselines.baseline_weights``), so "found" here means the loader
looks in the same place; a missing item is the loader's own :class:`WeightsMissing` line: what
it is, where it was looked for, and the one command that puts it in place on a machine with
network access.

Works:

- ``table3``: the autoencoder's Table 3 needs no pretrained file (trained from scratch; STFT
  and MEL distances are formulas);
- ``generate``: the text encoder each diffusion config names (T5-base for the paper's);
  MiniLM for ``generate --library`` (optional);
- ``table2``: ``generate``'s, plus CLAP, VGGish and CNN14 (``evaluate generation``), the two
  baselines' diffusers folders, and the aiSFX proxy weights (optional: used only when a paper
  model is missing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonicmotion.errors import SonicMotionError, WeightsMissing

WORKS = ("table2", "table3", "generate")
PAPER_DIFFUSION_CONFIGS = ("descriptive", "parametric")


@dataclass(frozen=True)
class Need:
    """One pretrained item: its name, what uses it, and the loader's own lookup (raises WeightsMissing)."""

    name: str
    used_by: str
    locate: Callable[[], Path]
    optional: bool = False


@dataclass(frozen=True)
class Finding:
    need: Need
    found: Path | None
    missing: WeightsMissing | None

    def line(self) -> str:
        tag = " (optional)" if self.need.optional else ""
        if self.found is not None:
            return f"found    {self.need.name}{tag}: {self.found}  [{self.need.used_by}]"
        return f"MISSING  {self.need.name}{tag} [{self.need.used_by}]\n         {self.missing}"


def config_text_encoder(config: str | os.PathLike) -> str:
    """The ``model.text_encoder`` a diffusion training config names (its default when it names none)."""
    from sonicmotion.models.config import DiffusionModelConfig
    from sonicmotion.yaml_config import find_config, load_yaml

    data = load_yaml(find_config(config, "diffusion"))
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise SonicMotionError(f"{config}: 'model' must be a mapping")
    return str(model.get("text_encoder", DiffusionModelConfig.text_encoder))


def _text_encoder_need(name: str, configs: list[str]) -> Need:
    from sonicmotion.models.text import MINILM, text_encoder_folder

    label = "MiniLM (all-MiniLM-L6-v2)" if name == MINILM else f"text encoder {name}"
    return Need(label, f"train diffusion and generate with {', '.join(configs)}", lambda: text_encoder_folder(name))


def needs(work: str, models_dir: str | os.PathLike | None = None, configs: list[str] | None = None,
          clap: str | None = None, baseline_weights: dict[str, str] | None = None) -> list[Need]:
    """The items ``work`` needs (see the module docstring). ``configs``: diffusion configs whose
    text encoders count (default the paper's); ``baseline_weights``: folders by baseline key."""
    from sonicmotion import baselines
    from sonicmotion.evaluation import embeddings
    from sonicmotion.models.text import MINILM, text_encoder_folder

    if work not in WORKS:
        raise SonicMotionError(f"--for must be one of {', '.join(WORKS)}, got {work!r}")
    if work == "table3":
        return []
    models_dir = Path(models_dir) if models_dir is not None else embeddings.DEFAULT_MODELS_DIR
    by_encoder: dict[str, list[str]] = {}
    for config in configs or list(PAPER_DIFFUSION_CONFIGS):
        by_encoder.setdefault(config_text_encoder(config), []).append(str(config))
    items = [_text_encoder_need(name, used) for name, used in by_encoder.items()]
    if MINILM not in by_encoder:
        items.append(Need("MiniLM (all-MiniLM-L6-v2)", "generate --library (retrieve and place), tiny configs",
                          lambda: text_encoder_folder(MINILM), optional=True))
    if work == "generate":
        return items
    items += evaluation_needs(("clap", "fd", "fad", "kl"), models_dir, clap)
    folders = baseline_weights or {}
    for key, model in baselines.BASELINES.items():
        items.append(Need(model.name, f"baseline --model {key} (Table 2 row)",
                          lambda key=key: baselines.baseline_weights(key, folders.get(key))))
    items.append(Need("aiSFX", "evaluate generation: FD and KL proxies when CLAP or CNN14 is missing",
                      embeddings.aisfx_checkpoint, optional=True))
    return items


def evaluation_needs(metrics: tuple[str, ...], models_dir: str | os.PathLike | None = None,
                     clap: str | None = None) -> list[Need]:
    """The paper's embedding models the ``evaluate generation`` metrics ``metrics`` read."""
    from sonicmotion.evaluation import embeddings

    models_dir = Path(models_dir) if models_dir is not None else embeddings.DEFAULT_MODELS_DIR
    items = []
    if {"clap", "fd"} & set(metrics):
        items.append(Need("CLAP", "evaluate generation: CLAP score, FD", lambda: embeddings.clap_folder(models_dir, clap)))
    if "fad" in metrics:
        items.append(Need("VGGish", "evaluate generation: FAD", lambda: embeddings.vggish_weights(models_dir)))
    if "kl" in metrics:
        items.append(Need("CNN14", "evaluate generation: KL", lambda: embeddings.cnn14_weights(models_dir)))
    return items


def check(items: list[Need]) -> list[Finding]:
    """Look for every item where its loader looks."""
    findings = []
    for need in items:
        try:
            findings.append(Finding(need, need.locate(), None))
        except WeightsMissing as err:
            findings.append(Finding(need, None, err))
    return findings


def report(work: str, findings: list[Finding]) -> str:
    """The check's text: one line per item, the fix under each missing one, a last summary line."""
    if not findings:
        return f"{work}: no pretrained files needed (the autoencoder is trained from scratch; STFT and MEL are formulas)"
    lines = [f.line() for f in findings]
    required = [f for f in findings if f.found is None and not f.need.optional]
    optional = [f for f in findings if f.found is None and f.need.optional]
    summary = f"{work}: {len(findings) - len(required) - len(optional)} of {len(findings)} found"
    if required:
        summary += f"; missing: {', '.join(f.need.name for f in required)}"
    if optional:
        summary += f"; optional, missing: {', '.join(f.need.name for f in optional)}"
    return "\n".join(lines + [summary])


def all_required_found(findings: list[Finding]) -> bool:
    return all(f.found is not None or f.need.optional for f in findings)
