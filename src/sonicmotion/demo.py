"""The whole system on a laptop CPU, in one command (``sonicmotion demo``, ``make demo``).

Stages, each skipped when a rerun finds it finished (``OUT/stages/*.done``):

1. a synthetic captioned corpus of eight everyday-like sound kinds (Clotho format);
2. the spatial dataset built from it (one static and one moving sample per source; each
   clip stored once, `--store sources`, the FOA made by every reader);
3. prompts: the test split's samples (original caption, spatial caption, requested path);
4. retrieve-and-place generation from the train split (exact placement);
5. the paper's 4-channel autoencoder, tiny, trained for a bounded number of steps, and its
   Table 3 evaluation;
6. the parametric latent's transport codec (a tiny 1-channel autoencoder on W; direction
   and diffuseness are analysed, not learned, see docs/autoencoder.md), its Table 3
   evaluation, and the train split encoded into latent shards once;
7. tiny descriptive (SM-D) and parametric (SM-P) diffusion models trained on those latents,
   and generation of the test prompts with them: SM-P twice, generating the direction and
   with the direction pinned to the requested path (``--pin-path``);
8. words to a path: the spatial captions alone (what SM-D is given) through SM-P and
   retrieve-and-place, each path read from the words (``sonicmotion.motion``);
9. the same metrics for every variant, a summary table, and one HTML report with
   binaural previews.

``seed`` (``--seed``) shifts every seed the demo sets: the corpus, the dataset build, each
training run (added to its config's seed) and the generated clips (clip i: seed * 1000 + i).
Seed 0 is the demo as it always was; the evaluation is the same instrument for every seed.

The learned models are smoke-scale: a few CPU minutes, not the paper's GPU weeks. The
report says so next to their numbers.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonicmotion.audio import CLIP_SECONDS
from sonicmotion.prompts import read_prompts, write_prompts

SMOKE_NOTE = ("Smoke-scale model: trained for {steps} steps on {sources} synthetic sources on a CPU in a few "
              "minutes (the paper: 100k steps at batch 1,024 on 4 H100s over a million samples). Its numbers show "
              "that the system runs end to end, not what the architecture can reach.")


@dataclass(frozen=True)
class DemoSize:
    takes: int  # takes per sound kind in the corpus (2 held out per kind)
    prompts: int  # test-split samples to generate
    autoencoder_steps: int
    transport_steps: int  # about the 4-channel autoencoder's CPU time: a 1-channel step is cheaper
    diffusion_steps: int
    sampling_steps: int
    batch_size: int


FULL = DemoSize(takes=14, prompts=16, autoencoder_steps=200, transport_steps=260, diffusion_steps=500,
                sampling_steps=30, batch_size=8)
QUICK = DemoSize(takes=3, prompts=4, autoencoder_steps=4, transport_steps=4, diffusion_steps=6, sampling_steps=4,
                 batch_size=2)
# Classifier-free guidance per variant, measured on the demo's test prompts: SM-D needs it to
# follow the words (frame Δangle 32° / 29° / 30° at 1 / 3 / 6); for SM-P it stretches the
# generated direction vectors unevenly and costs accuracy (5.2° / 5.2° / 7.8° at 1 / 2 / 5).
GUIDANCE = {"descriptive": 3.0, "parametric": 2.0}
RUN_NAMES = {
    "descriptive": "SonicMotion descriptive (SM-D), tiny, parametric latent",
    "parametric": "SonicMotion parametric (SM-P), tiny, parametric latent, direction generated",
    "parametric-pinned": "SonicMotion parametric (SM-P), tiny, parametric latent, direction pinned to the path",
}
# The descriptive prompts (spatial captions, no numbers) through the generators that take a path:
# the path read from the words by motion.describe_to_motion, measured against the true paths.
WORDS_RUNS = {
    "words-sm-p": "words → path → SM-P (tiny, direction generated)",
    "words-retrieve-and-place": "words → path → retrieve-and-place",
}


class Demo:
    def __init__(self, out: str | Path, size: DemoSize, configs: Path, seed: int = 0):
        self.out = Path(out)
        self.size = size
        self.configs = configs
        self.seed = seed
        self.stages = self.out / "stages"
        self._record_seed()
        self.stages.mkdir(parents=True, exist_ok=True)
        self.dataset = self.out / "dataset"
        self.runs = self.out / "runs"
        (self.out / "models").mkdir(exist_ok=True)

    def _record_seed(self) -> None:
        """OUT/demo.json names the seed; a rerun with another seed would mix two demos' stages."""
        from sonicmotion.errors import SonicMotionError
        from sonicmotion.files import read_json, write_json

        record = self.out / "demo.json"
        if record.is_file():
            earlier = read_json(record, "demo record").get("seed")
        else:  # stages finished before the demo had --seed were made with seed 0
            earlier = 0 if any(self.stages.glob("*.done")) else None
        if earlier is not None and earlier != self.seed:
            raise SonicMotionError(f"{self.out} holds a demo made with --seed {earlier}: rerun it with --seed "
                                   f"{earlier}, or give another --out for --seed {self.seed}")
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(record, {"seed": self.seed})

    def clip_seed(self) -> int:
        """The generation seed of the demo's runs: clip i uses it + i, so two seeds' clips never share
        noise (the demo has far fewer than 1,000 prompts)."""
        return self.seed * 1000

    def stage(self, name: str, work: Callable[[], None]) -> None:
        marker = self.stages / f"{name}.done"
        if marker.is_file():
            print(f"[demo] {name}: done in an earlier run, reused")
            return
        print(f"[demo] {name} ...", flush=True)
        start = time.time()
        work()
        marker.write_text(json.dumps({"seconds": round(time.time() - start, 1)}))
        print(f"[demo] {name}: {time.time() - start:.0f} s", flush=True)

    # -- stages --------------------------------------------------------------------------
    def corpus(self) -> None:
        from sonicmotion.data.synth import write_clotho_corpus

        write_clotho_corpus(self.out / "corpus", takes=self.size.takes, seed=self.seed, held_out=1)

    def build_dataset(self) -> None:
        from sonicmotion.data.builder import BuildConfig, build_from_corpora
        from sonicmotion.data.synth import CLOTHO_SPLITS

        corpus = self.out / "corpus"
        specs = [f"clotho:{corpus / f'clotho_captions_{split}.csv'}:{corpus / split}" for split in CLOTHO_SPLITS]
        # Each clip stored once; every later stage makes the FOA from it (docs/dataset.md).
        build_from_corpora(specs, self.dataset, BuildConfig(seed=self.seed, workers=2, store="sources"))

    def prompts(self) -> None:
        from sonicmotion.data.index import iter_index

        rows = [row for group in iter_index(self.dataset / "index.parquet") for row in group]
        test = sorted((r for r in rows if r["split"] == "test"), key=lambda r: (r["motion"], r["key"]))
        # Alternate static and moving samples so a short list has both.
        static = [r for r in test if r["motion"] == "static"]
        moving = [r for r in test if r["motion"] == "moving"]
        chosen = [r for pair in zip(moving, static) for r in pair][: self.size.prompts]
        rows = []
        for r in chosen:
            trajectory = r["trajectory"] if isinstance(r["trajectory"], dict) else json.loads(r["trajectory"])
            rows.append({"id": r["key"], "prompt": r["caption"], "caption": r["caption"],
                         "spatial_caption": r["spatial_caption"], "trajectory": trajectory, "seconds": CLIP_SECONDS})
        write_prompts(self.out / "prompts.jsonl", rows)

    def _rows(self) -> list[dict]:
        return [dict(p.row) for p in read_prompts(self.out / "prompts.jsonl")]

    def retrieval(self) -> None:
        from sonicmotion.generation import FolderSettings, generate_prompts
        from sonicmotion.retrieval import RetrieveAndPlace, SoundLibrary

        run = self.runs / "retrieve-and-place"
        shutil.rmtree(run, ignore_errors=True)  # an unfinished stage starts again: every clip's match is recorded
        run.mkdir(parents=True)
        generator = RetrieveAndPlace(SoundLibrary.open(self.dataset, splits=("train",)))
        written = generate_prompts(generator, read_prompts(self.out / "prompts.jsonl"), run,
                                   FolderSettings(seed=self.clip_seed()))
        rows = [{**row, "retrieved": clip["retrieved"]} for row, clip in zip(self._rows(), written)]
        self._write_run(run, rows, "Retrieve and place (no training)",
                        "Retrieves the train-split sound whose caption best matches the prompt (MiniLM sentence "
                        "embeddings) and places it exactly on the requested path: real sounds, exact directions.")

    def autoencoder(self) -> None:
        """The paper's design: a 4-channel autoencoder, measured by Table 3."""
        self._train_autoencoder("tiny.yaml", self.out / "models" / "autoencoder", self.size.autoencoder_steps,
                                self.out / "autoencoder_metrics.json")

    def transport(self) -> None:
        """The parametric latent: a 1-channel codec on W, Table 3, and the train split as latent shards."""
        from sonicmotion.training.workflows import encode_latents

        run = self.out / "models" / "transport"
        self._train_autoencoder("parametric-tiny.yaml", run, self.size.transport_steps,
                                self.out / "parametric_autoencoder_metrics.json")
        encode_latents(str(run), [str(self.dataset)], self.out / "latents", splits=["train"], progress=False)

    def _train_autoencoder(self, config: str, run: Path, steps: int, metrics: Path) -> None:
        from sonicmotion.training.autoencoder import override_training
        from sonicmotion.training.workflows import autoencoder_config, evaluate_autoencoder_run, train_autoencoder

        resume = (run / "checkpoints").is_dir()
        run_config = autoencoder_config(run, self.configs / "autoencoder" / config, resume, max_steps=steps)
        run_config = override_training(run_config, seed=run_config.training.seed + self.seed)
        train_autoencoder(run_config, run, [str(self.dataset)], resume=resume)
        evaluate_autoencoder_run(str(run), [str(self.dataset)], metrics, limit=8, progress=False)

    def diffusion(self, variant: str) -> None:
        from sonicmotion.files import check_output_folder
        from sonicmotion.generation import FolderSettings, SamplingSettings, generate_prompts
        from sonicmotion.pipeline import load_pipeline
        from sonicmotion.training.diffusion import load_train_config
        from sonicmotion.training.workflows import train_diffusion

        run = self.out / "models" / variant
        config = self.configs / "diffusion" / f"{variant}-tiny.yaml"
        train_diffusion(str(config), str(self.out / "models" / "transport"),
                        str(self.out / "latents"), run,
                        {"training.max_steps": self.size.diffusion_steps,
                         "training.seed": load_train_config(config).training.seed + self.seed,
                         "training.global_batch_size": self.size.batch_size,
                         "training.checkpoint_every": max(1, self.size.diffusion_steps // 4)},
                        resume=(run / "checkpoints").is_dir())
        prompts = self.out / f"prompts_{variant}.jsonl"
        rows = self._rows()
        if variant == "descriptive":  # the position only in words, as the descriptive model learns it
            rows = [{**{k: v for k, v in row.items() if k != "trajectory"}, "prompt": row["spatial_caption"]}
                    for row in rows]
        write_prompts(prompts, rows)
        outputs = [(variant, False)] + ([("parametric-pinned", True)] if variant == "parametric" else [])
        note = SMOKE_NOTE.format(steps=self.size.diffusion_steps, sources=self._train_sources())
        sampling = SamplingSettings(steps=self.size.sampling_steps, guidance=GUIDANCE[variant])
        for name, pin_path in outputs:
            out = check_output_folder(self.runs / f"sonicmotion-{name}")
            generate_prompts(load_pipeline(str(run), sampling=sampling), read_prompts(prompts), out,
                             FolderSettings(seed=self.clip_seed(), pin_path=pin_path))
            self._write_run(out, self._rows(), RUN_NAMES[name], note)

    def words(self) -> None:
        """The spatial captions alone (no path given) through SM-P and retrieve-and-place: each
        path is read from the words (generation.request_from_words) and the sound alone (the
        words without the motion) is generated or retrieved. The run's prompts file keeps the
        true path under ``trajectory``, which the evaluation measures against, and the words'
        path under ``words_trajectory``."""
        from sonicmotion.files import check_output_folder
        from sonicmotion.generation import FolderSettings, SamplingSettings, generate_prompts
        from sonicmotion.pipeline import load_pipeline
        from sonicmotion.retrieval import RetrieveAndPlace, SoundLibrary

        prompts = self.out / "prompts_words.jsonl"
        write_prompts(prompts, [{"id": row["id"], "prompt": row["spatial_caption"], "caption": row["caption"],
                                 "seconds": row["seconds"]} for row in self._rows()])
        sampling = SamplingSettings(steps=self.size.sampling_steps, guidance=GUIDANCE["parametric"])
        generators = {
            "words-sm-p": lambda: load_pipeline(str(self.out / "models" / "parametric"), sampling=sampling),
            "words-retrieve-and-place": lambda: RetrieveAndPlace(SoundLibrary.open(self.dataset, splits=("train",))),
        }
        notes = {
            "words-sm-p": SMOKE_NOTE.format(steps=self.size.diffusion_steps, sources=self._train_sources()),
            "words-retrieve-and-place": "Reads the path from the spatial caption, retrieves the train-split sound "
                                        "whose caption best matches the words without the motion, and places it "
                                        "exactly on the path read.",
        }
        for name, make in generators.items():
            run = self.runs / name
            if name == "words-retrieve-and-place":  # started again: every clip's match is recorded
                shutil.rmtree(run, ignore_errors=True)
            written = generate_prompts(make(), read_prompts(prompts), check_output_folder(run),
                                       FolderSettings(seed=self.clip_seed()))
            rows = [{**row, "words_trajectory": clip.get("trajectory"), "content": clip.get("content"),
                     **({"retrieved": clip["retrieved"]} if "retrieved" in clip else {})}
                    for row, clip in zip(self._rows(), written)]
            self._write_run(run, rows, WORDS_RUNS[name], notes[name])

    def _train_sources(self) -> int:
        from sonicmotion.data.synth import SOUNDS

        return len(SOUNDS) * (self.size.takes - 2)  # one take per kind each for validation and test

    def _write_run(self, run: Path, rows: list[dict], name: str, note: str) -> None:
        write_prompts(run / "prompts.jsonl", rows)
        (run / "run.json").write_text(json.dumps({"name": name, "note": note}))

    def evaluate(self) -> None:
        from sonicmotion.evaluation.generation import GenerationOptions, run_evaluation

        for run in sorted(p for p in self.runs.iterdir() if p.is_dir()):
            run_evaluation(GenerationOptions(generated=str(run), prompts=str(run / "prompts.jsonl"),
                                             reference=str(self.dataset / "test"), name=run.name, progress=False),
                           run / "metrics.json")
            self._card_figures(run)

    def _card_figures(self, run: Path) -> None:
        """The spatial errors of a model's run, on its model card."""
        from sonicmotion.pipeline import write_model_card

        name = run.name.removeprefix("sonicmotion-")
        folder = self.out / "models" / name.removesuffix("-pinned") / "model"
        spatial = json.loads((run / "metrics.json").read_text())["metrics"]["spatial"]
        if name == run.name or not folder.is_dir() or not spatial.get("computed"):
            return
        frame = spatial["frame"]["all"]
        write_model_card(folder, figures={
            f"{RUN_NAMES[name]}: frame L1(θ) / L1(φ) / Δangle on {frame['n']} demo test prompts (degrees)":
            f"{frame['l1_azimuth']:.2f} / {frame['l1_elevation']:.2f} / {frame['delta_angle']:.2f}"})

    def report(self) -> None:
        from sonicmotion.visual.html_report import write_html_report

        runs = sorted(p for p in self.runs.iterdir() if p.is_dir())
        write_html_report(runs, self.out / "report.html", title="SonicMotion demo")

    # -- all of it -----------------------------------------------------------------------
    def run(self) -> None:
        start = time.time()
        self.stage("corpus", self.corpus)
        self.stage("dataset", self.build_dataset)
        self.stage("prompts", self.prompts)
        self.stage("retrieval", self.retrieval)
        self.stage("autoencoder", self.autoencoder)
        self.stage("transport", self.transport)
        self.stage("descriptive", lambda: self.diffusion("descriptive"))
        self.stage("parametric", lambda: self.diffusion("parametric"))
        self.stage("words", self.words)
        self.stage("evaluate", self.evaluate)
        self.stage("report", self.report)
        print(summary(self.out))
        print(f"[demo] finished in {time.time() - start:.0f} s; open {self.out / 'report.html'} "
              "(headphones on for the binaural previews)")


def summary(out: Path) -> str:
    """The demo's table: spatial errors (frame resolution) of every variant, and Table 3 of both autoencoders."""
    record = out / "demo.json"
    seed = json.loads(record.read_text())["seed"] if record.is_file() else 0
    lines = ["", f"Spatial errors against the requested paths (frame resolution, degrees, mean over clips; "
             f"demo --seed {seed}):",
             f"{'variant':84s} {'n':>3s} {'L1(θ)':>7s} {'L1(φ)':>7s} {'Δangle':>7s} {'static':>7s} {'moving':>7s}"
             f" {'FD*':>7s} {'KL*':>7s}"]
    for run in sorted(p for p in (out / "runs").iterdir() if p.is_dir()):
        metrics = json.loads((run / "metrics.json").read_text())
        info = json.loads((run / "run.json").read_text())
        spatial = metrics["metrics"]["spatial"]
        if not spatial.get("computed"):
            lines.append(f"{info['name']:84s} not computed: {spatial.get('reason')}")
            continue
        frame = spatial["frame"]
        row = frame["all"]
        by_motion = "".join(f" {frame[g]['delta_angle']:7.2f}" if frame.get(g, {}).get("n") else f" {'-':>7s}"
                            for g in ("static", "moving"))
        proxies = "".join(f" {metrics['metrics'][m]['value']:7.2f}" if metrics["metrics"].get(m, {}).get("computed")
                          else f" {'-':>7s}" for m in ("fd_aisfx", "kl_aisfx"))
        scale = "" if "retrieve" in info["name"].lower() else "  (smoke-scale)"
        lines.append(f"{info['name']:84s} {row['n']:3d} {row['l1_azimuth']:7.2f} {row['l1_elevation']:7.2f} "
                     f"{row['delta_angle']:7.2f}{by_motion}{proxies}{scale}")
    for name, file in [("4-channel autoencoder (the paper's design)", "autoencoder_metrics.json"),
                       ("parametric latent (W codec + direction)", "parametric_autoencoder_metrics.json")]:
        if (out / file).is_file():
            data = json.loads((out / file).read_text())
            frame = data["spatial"]["frame"]
            lines.append(f"Tiny {name}, smoke-scale, Table 3 on {data['clips']} test clips: STFT {data['stft']:.2f}, "
                         f"MEL {data['mel']:.2f} (W alone {data['stft_w']:.2f}, {data['mel_w']:.2f}), frame "
                         f"L1(θ) {frame['l1_azimuth']:.2f}, L1(φ) {frame['l1_elevation']:.2f}, "
                         f"Δangle {frame['delta_angle']:.2f}")
    lines.append("Paper: autoencoder STFT 1.35, MEL 0.95, L1(θ) 3.32, L1(φ) 1.43, Δangle 3.72; SM-P Δangle 14.32; "
                 "SM-D Δangle 29.22.")
    lines.append("FD*, KL*: proxies against the test split, with the aiSFX sound-effects network whose weights ship in "
                 "the aisfx wheel (not the paper's CLAP and CNN14: compare them only with each other).")
    lines.append("CLAP, FD, FAD and KL need embedding models from local files (docs/evaluation.md); the report "
                 "lists each as computed or not, with the reason.")
    return "\n".join(lines)
