"""``sonicmotion memory-plan MODEL``: the memory model of a training step (``training.memory``),
without training: predicted peak per micro-batch size and the split ``--micro-batch auto``
would choose on N processes of a given memory."""

from __future__ import annotations

import argparse

from sonicmotion.cli.options import example_epilog, positive_float, positive_int

FORMATTER = argparse.RawDescriptionHelpFormatter


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "memory-plan", help="predict a training step's peak GPU memory and the micro-batch split auto would choose",
        description="Build the models of a training config on fake tensors (no memory, no arithmetic), count "
        "parameters, gradients, AdamW moments, EMA and frozen models exactly and the activations saved for "
        "backward by running the step's forward and backward, then print the predicted peak per process for each "
        "micro-batch size 'auto' would try and the split it would choose (the trainer's own line) on --processes "
        "devices of --memory-gib each. One allocator factor, calibrated on one H100 measurement, covers what the "
        "model does not count (docs/performance.md \"Memory model\"). Takes seconds on a CPU; needs no GPU.",
        formatter_class=FORMATTER,
        epilog=example_epilog("sonicmotion memory-plan autoencoder --config paper --memory-gib 79.1 --processes 4",
                              "sonicmotion memory-plan diffusion --config parametric --memory-gib 79.1 --processes 4"),
    )
    models = parser.add_subparsers(dest="model", metavar="MODEL", parser_class=type(parser))
    models.required = True
    ae = models.add_parser(
        "autoencoder", help="the autoencoder trainer's step (generator, discriminator, Eq. 2 loss, EMA)",
        formatter_class=FORMATTER,
        epilog=example_epilog("sonicmotion memory-plan autoencoder --config paper --memory-gib 79.1 --processes 4"))
    diffusion = models.add_parser(
        "diffusion", help="the diffusion trainer's step (DiT + conditioners; text encoder and pretransform frozen)",
        formatter_class=FORMATTER,
        epilog=example_epilog("sonicmotion memory-plan diffusion --config parametric --memory-gib 79.1 --processes 4",
                              "sonicmotion memory-plan diffusion --config descriptive --memory-gib 139 --processes 1"))
    for p in (ae, diffusion):
        p.add_argument("--config", required=True, help="training config: a YAML path or a shipped name")
        p.add_argument("--memory-gib", type=positive_float, required=True,
                       help="memory of each device in GiB (an H100 80GB holds 79.1 GiB)")
        p.add_argument("--processes", type=positive_int, default=1, help="processes (GPUs) of the run (default 1)")
        p.add_argument("--batch-size", type=positive_int,
                       help="global batch (overrides training.global_batch_size)")
        p.add_argument("--gradient-accumulation-steps", type=positive_int, metavar="N",
                       help="overrides training.gradient_accumulation_steps")
        p.add_argument("--gradient-checkpointing", action="store_true",
                       help="plan as 'train --gradient-checkpointing' runs: checkpointing on from the start")
    ae.set_defaults(run=run_autoencoder)
    diffusion.add_argument("--dit", help="DiT size: paper, small, tiny, or a YAML file (overrides the config)")
    diffusion.add_argument("--text-encoder", help="minilm, a T5 name or a local T5 folder (overrides the config); "
                           "only its shape is read")
    diffusion.add_argument("--autoencoder-config", default="paper",
                           help="the frozen pretransform: a 4-channel autoencoder YAML or shipped name "
                           "(default paper), or patch:N (no parameters)")
    diffusion.set_defaults(run=run_diffusion)


def _plan(args: argparse.Namespace, memory, global_batch: int, accumulation: int) -> None:
    from sonicmotion.training.batches import plan_batches
    from sonicmotion.training.memory import describe_plan

    print(describe_plan(memory, plan_batches(global_batch, args.processes, accumulation), args.memory_gib,
                        args.gradient_checkpointing))


def run_autoencoder(args: argparse.Namespace) -> int:
    from sonicmotion.training.autoencoder import AutoencoderRunConfig, override_training
    from sonicmotion.training.memory import autoencoder_step_memory

    config = override_training(AutoencoderRunConfig.from_yaml(args.config), global_batch_size=args.batch_size,
                               gradient_accumulation_steps=args.gradient_accumulation_steps)
    _plan(args, autoencoder_step_memory(config, args.processes), config.training.global_batch_size,
          config.training.gradient_accumulation_steps)
    return 0


def run_diffusion(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sonicmotion.errors import SonicMotionError
    from sonicmotion.models.autoencoder import load_autoencoder_config
    from sonicmotion.models.config import dit_config
    from sonicmotion.training.diffusion import load_train_config
    from sonicmotion.training.memory import diffusion_step_memory, text_encoder_config
    from sonicmotion.yaml_config import config_to_dict, find_config

    overrides = {key: value for key, value in (("model.text_encoder", args.text_encoder),
                                               ("training.global_batch_size", args.batch_size),
                                               ("training.gradient_accumulation_steps",
                                                args.gradient_accumulation_steps)) if value is not None}
    if args.dit is not None:
        overrides["model.dit"] = config_to_dict(dit_config(args.dit, Path(args.config).parent))
    config = load_train_config(args.config, overrides)
    if args.autoencoder_config.startswith("patch:"):
        pretransform = None
        patch = args.autoencoder_config.split(":")[1]
        if not patch.isdigit() or int(patch) < 1:
            raise SonicMotionError(f"--autoencoder-config {args.autoencoder_config}: patch:N needs a positive N")
        latent_channels, ratio = 4 * int(patch), int(patch)
    else:
        pretransform = load_autoencoder_config(find_config(args.autoencoder_config, "autoencoder"))
        if pretransform.audio_channels != 4:
            raise SonicMotionError(f"--autoencoder-config {args.autoencoder_config} is a {pretransform.audio_channels}"
                                   "-channel codec; the memory plan takes a 4-channel autoencoder or patch:N")
        latent_channels, ratio = pretransform.latent_channels, pretransform.downsampling_ratio
    memory = diffusion_step_memory(config, text_encoder_config(config.model.text_encoder), latent_channels, ratio,
                                   pretransform, args.processes)
    _plan(args, memory, config.training.global_batch_size, config.training.gradient_accumulation_steps)
    return 0
