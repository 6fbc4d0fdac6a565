"""Tiny randomly initialised diffusers pipelines of the two Table 2 baselines, built offline and
saved in diffusers' folder layout (model_index.json + one folder per component), so
``sonicmotion baseline`` loads them exactly as it loads the published weights."""

from __future__ import annotations

from pathlib import Path

WORDS = "a dog barks the siren car bird sings rain falls on roof engine hums".split()


def _t5_tokenizer(max_length: int = 16):
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("▁" + w, -1.0) for w in WORDS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def tiny_stable_audio_open(folder: Path, sample_rate: int = 1600) -> Path:
    """Stable Audio Open's parts at toy size: a 64x downsampling Oobleck VAE at ``sample_rate``
    Hz (stereo), a one-layer DiT holding 10 s of latents, a one-layer T5, the shipped scheduler."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    tokenizer = _t5_tokenizer()
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=8, d_kv=4, d_ff=16, num_layers=1,
                                           num_heads=2))
    ratio = 64
    vae = AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 8], decoder_channels=4,
                             decoder_input_channels=3, audio_channels=2, channel_multiples=[1, 2, 2],
                             sampling_rate=sample_rate)
    transformer = StableAudioDiTModel(sample_size=10 * sample_rate // ratio + 1, in_channels=3, num_layers=1,
                                      attention_head_dim=4, num_attention_heads=2, num_key_value_attention_heads=1,
                                      out_channels=3, cross_attention_dim=8, time_proj_dim=8,
                                      global_states_input_dim=8, cross_attention_input_dim=4)
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    projection = StableAudioProjectionModel(text_encoder_dim=8, conditioning_dim=4, min_value=0, max_value=64)
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection, tokenizer=tokenizer,
                               transformer=transformer, scheduler=scheduler)
    pipe.save_pretrained(folder)
    return folder


def tiny_audioldm2(folder: Path) -> Path:
    """AudioLDM 2's parts at toy size (CLAP + T5 + GPT-2 language model, a two-level UNet,
    a KL VAE, a 320x HiFi-GAN vocoder at 16 kHz), the language model saved as GPT2Model as
    in the published weights."""
    import torch
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2Model,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
    )

    torch.manual_seed(0)
    roberta_vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for word in WORDS:
        roberta_vocab.setdefault("Ġ" + word, len(roberta_vocab))
        roberta_vocab.setdefault(word, len(roberta_vocab))
    tokenizer = RobertaTokenizer(vocab=roberta_vocab, merges=[], model_max_length=16)
    tokenizer_2 = _t5_tokenizer()
    text_config = ClapTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=8, intermediate_size=16,
                                 num_attention_heads=2, num_hidden_layers=1, vocab_size=len(roberta_vocab) + 2,
                                 projection_dim=8, max_position_embeddings=40)
    audio_config = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=16, depths=[1, 1],
                                   num_attention_heads=[2, 2], num_hidden_layers=2, hidden_size=16, projection_dim=8,
                                   patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text_config.to_dict(), audio_config=audio_config.to_dict(), projection_dim=8))
    language_model = GPT2Model(GPT2Config(n_embd=8, n_head=2, n_layer=1, vocab_size=10, n_ctx=32, n_positions=32,
                                          bos_token_id=0, eos_token_id=0))
    language_model.config.max_new_tokens = 4
    pipe = AudioLDM2Pipeline(
        vae=AutoencoderKL(block_out_channels=[8, 16], norm_num_groups=4, in_channels=1, out_channels=1,
                          down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                          latent_channels=4),
        text_encoder=clap,
        text_encoder_2=T5EncoderModel(T5Config(vocab_size=len(tokenizer_2), d_model=16, d_ff=16, d_kv=4, num_heads=2,
                                               num_layers=1)),
        projection_model=AudioLDM2ProjectionModel(text_encoder_dim=8, text_encoder_1_dim=16, langauge_model_dim=8),
        language_model=language_model,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        feature_extractor=ClapFeatureExtractor(feature_size=64, sampling_rate=16000, hop_length=7900),
        unet=AudioLDM2UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, sample_size=8, in_channels=4,
            out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=([None, 8, 16], [None, 8, 16]),
            attention_head_dim=2),
        scheduler=DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                                set_alpha_to_one=False),
        vocoder=SpeechT5HifiGan(SpeechT5HifiGanConfig(
            model_in_dim=8, sampling_rate=16000, upsample_initial_channel=8, upsample_rates=[10, 8, 4],
            upsample_kernel_sizes=[20, 16, 8], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
            normalize_before=False)),
    )
    pipe.save_pretrained(folder)
    return folder
