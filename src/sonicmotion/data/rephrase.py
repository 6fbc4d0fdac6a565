"""Optional LLM rephrasing of spatial captions, behind one interface, cached and checked.

Two generators: a local ``transformers`` text-generation model given by path (never
downloaded), or an OpenAI-compatible chat-completions HTTP endpoint (e.g. a local
vLLM or llama.cpp server). The prompt carries the original caption, the spatial
parameters and the template caption; an answer that drops a Table 1 word, runs long or
spans several lines is rejected and the template caption kept. Every answer (kept or
rejected) is cached under the prompt's hash, so a rerun never asks twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonicmotion.data.captions import missing_phrases, pass_route, required_phrases
from sonicmotion.data.sampling import DistanceParameters, SpatialParameters
from sonicmotion.errors import SonicMotionError
from sonicmotion.spatial.regions import azimuth_region, elevation_word

KINDS = ("transformers", "http")
PROMPT_VERSION = 1
API_KEY_ENV = "SONICMOTION_LLM_API_KEY"  # sent as a bearer token when set


@dataclass(frozen=True)
class RephraserSpec:
    """Which model rephrases, and where answers are cached (picklable, for worker processes).

    ``kind="transformers"``: ``target`` is a local model folder. ``kind="http"``: ``target``
    is the endpoint's base URL (``http://127.0.0.1:8000/v1``) and ``model`` its model name.
    """

    kind: str
    target: str
    cache_dir: str
    model: str = ""
    max_new_tokens: int = 80
    timeout_seconds: float = 120.0

    @classmethod
    def parse(cls, text: str, cache_dir: str) -> "RephraserSpec":
        """``transformers:PATH`` or ``http(s)://HOST[:PORT]/v1[#MODEL]``."""
        if text.startswith(("http://", "https://")):
            url, _, model = text.partition("#")
            return cls("http", url, cache_dir, model)
        kind, _, target = text.partition(":")
        if kind != "transformers" or not target:
            raise SonicMotionError(
                f"--rephraser {text!r}: expected transformers:MODEL_DIR or http://HOST:PORT/v1[#MODEL]"
            )
        return cls(kind, target, cache_dir)

    def identity(self) -> str:
        """What decides the answers (not where they are cached)."""
        return f"{self.kind}:{self.target}#{self.model}:{self.max_new_tokens}:v{PROMPT_VERSION}"


def describe_parameters(params: SpatialParameters) -> str:
    """The spatial parameters in words and numbers, for the prompt."""
    def place(az: float, el: float) -> str:
        height = elevation_word(el)
        return f"{azimuth_region(az)}{', ' + height if height else ''} (azimuth {az:.0f} deg, elevation {el:.0f} deg)"

    if params.motion == "static":
        return f"static sound at the {place(params.start_azimuth, params.start_elevation)}"
    if isinstance(params, DistanceParameters):
        return _describe_distance(params, place)
    lines = [
        f"moving sound ({params.moving_parts} changes)",
        f"starts at the {place(params.start_azimuth, params.start_elevation)}",
        f"ends at the {place(params.end_azimuth, params.end_elevation)}",
        f"speed: {params.speed} (moves from {params.move_start:.1f} s to {params.move_end:.1f} s of 10 s)",
    ]
    if params.direction:
        lines.append("direction: " + ("clockwise" if params.direction == "cw" else "counter-clockwise"))
    return "; ".join(lines)


def _describe_distance(params: DistanceParameters, place) -> str:
    """A distance sample's parameters in words and numbers (metres, seconds)."""
    if params.motion == "pass":
        closest, came, went = pass_route(params)
        azimuth, elevation = params.trajectory().positions(params.closest_time)
        return (f"sound passing on a straight line at {params.source_speed:.1f} m/s from the {came} to the {went}; "
                f"closest ({params.closest_distance:g} m away, at {params.closest_time:.1f} s of 10 s) at the "
                f"{place(float(azimuth), float(elevation))}")
    lines = [f"sound {'approaching' if params.motion == 'approach' else 'receding'} at the "
             f"{place(params.start_azimuth, params.start_elevation)}",
             f"from {params.start_distance:g} m to {params.end_distance:g} m away, between "
             f"{params.move_start:.1f} s and {params.move_end:.1f} s of 10 s"]
    if params.room is not None:
        x, y, z = params.room["dimensions"]
        lines.append(f"in a room of {x:g} x {y:g} x {z:g} m with a reverberation time of {params.room['rt60']:g} s")
    return "; ".join(lines)


def build_prompt(caption: str, params: SpatialParameters, template: str) -> str:
    words = ", ".join(f'"{w}"' for w in required_phrases(params))
    return (
        "Rewrite the audio caption so that it also says where the sound is and how it moves. "
        "Keep what the original caption says about the sound. "
        f"You must use these words exactly: {words}. "
        f"Answer with one sentence of at most {max(25, len(template.split()) + 8)} words and nothing else.\n"
        f"Original caption: {caption}\n"
        f"Spatial parameters: {describe_parameters(params)}\n"
        f"Plain version: {template}\n"
        "Rewritten caption:"
    )


def clean_answer(answer: str) -> str:
    text = answer.strip()
    text = re.sub(r"^(rewritten caption|caption)\s*:\s*", "", text, flags=re.IGNORECASE)
    return text.strip().strip('"“”\'').strip()


def answer_problems(answer: str, params: SpatialParameters, template: str) -> list[str]:
    """Why ``answer`` (cleaned) cannot replace ``template``; empty if it can."""
    if not answer:
        return ["empty answer"]
    problems = []
    if "\n" in answer:
        problems.append("more than one line")
    if len(answer) > max(2 * len(template), len(template) + 80):
        problems.append(f"too long ({len(answer)} characters for a {len(template)}-character template)")
    missing = missing_phrases(answer, params)
    if missing:
        problems.append("drops " + ", ".join(missing))
    return problems


class AnswerCache:
    """Prompt hash -> answer, in JSONL files of one folder; each process appends to its own file."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.answers: dict[str, str] = {}
        for path in sorted(self.folder.glob("answers-*.jsonl")):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        item = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a kill
                    self.answers[item["key"]] = item["answer"]
        self._path = self.folder / f"answers-{os.getpid()}.jsonl"

    def get(self, key: str) -> str | None:
        return self.answers.get(key)

    def put(self, key: str, answer: str) -> None:
        self.answers[key] = answer
        with open(self._path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"key": key, "answer": answer}, ensure_ascii=False) + "\n")


def http_generator(url: str, model: str, max_tokens: int, timeout: float) -> Callable[[str], str]:
    """An OpenAI-compatible ``/chat/completions`` client (greedy: temperature 0)."""
    endpoint = url.rstrip("/") + "/chat/completions"

    def generate(prompt: str) -> str:
        body = {
            "model": model or "default", "temperature": 0, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": prompt}],
        }
        headers = {"Content-Type": "application/json"}
        if os.environ.get(API_KEY_ENV):
            headers["Authorization"] = f"Bearer {os.environ[API_KEY_ENV]}"
        request = urllib.request.Request(endpoint, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                reply = json.loads(response.read().decode("utf-8"))
            return str(reply["choices"][0]["message"]["content"])
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as err:
            raise SonicMotionError(f"rephraser endpoint {endpoint}: {err}") from None

    return generate


def transformers_generator(path: str, max_new_tokens: int) -> Callable[[str], str]:
    """A local causal LM (greedy decoding), loaded only from ``path``."""
    if not (Path(path) / "config.json").is_file():
        raise SonicMotionError(f"{path}: not a local transformers model folder (no config.json)")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise SonicMotionError("the transformers rephraser needs the ml extra: pip install 'sonicmotion[ml]'") from None
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()

    def generate(prompt: str) -> str:
        if getattr(tokenizer, "chat_template", None):
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
            )
        else:
            text = prompt
        inputs = tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            )
        answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return answer.strip().split("\n")[0]

    return generate


class Rephraser:
    """Rephrases template captions with ``generate`` (prompt -> answer), cached and validated."""

    def __init__(self, generate: Callable[[str], str] | None, cache: AnswerCache, identity: str,
                 loader: Callable[[], Callable[[str], str]] | None = None):
        self._generate = generate
        self._loader = loader
        self.cache = cache
        self.identity = identity
        self.asked = 0
        self.rejected = 0

    def _generator(self) -> Callable[[str], str]:
        if self._generate is None:
            self._generate = self._loader()  # models load on first use, once per process
        return self._generate

    def rephrase(self, caption: str, params: SpatialParameters, template: str) -> tuple[str, str]:
        """``(caption, origin)``: the model's answer and ``"llm"``, or the template and ``"template"``."""
        prompt = build_prompt(caption, params, template)
        key = hashlib.sha256(f"{self.identity}\0{prompt}".encode()).hexdigest()
        answer = self.cache.get(key)
        if answer is None:
            answer = self._generator()(prompt)
            self.asked += 1
            self.cache.put(key, answer)
        text = clean_answer(answer)
        if answer_problems(text, params, template):
            self.rejected += 1
            return template, "template"
        return text, "llm"

    def check(self) -> None:
        """Fail early if an endpoint cannot answer at all (one test prompt, uncached).

        A local model's folder is checked when the rephraser is made; the model itself
        loads with the first caption, in each worker process.
        """
        if self._generate is None:
            return
        answer = self._generator()("Reply with the single word: ready")
        if not isinstance(answer, str):
            raise SonicMotionError(f"rephraser {self.identity} returned {type(answer).__name__}, not text")


def make_rephraser(spec: RephraserSpec) -> Rephraser:
    cache = AnswerCache(spec.cache_dir)
    if spec.kind == "http":
        generate = http_generator(spec.target, spec.model, spec.max_new_tokens, spec.timeout_seconds)
        return Rephraser(generate, cache, spec.identity())
    if spec.kind == "transformers":
        if not (Path(spec.target) / "config.json").is_file():
            raise SonicMotionError(f"{spec.target}: not a local transformers model folder (no config.json)")
        return Rephraser(None, cache, spec.identity(),
                         loader=lambda: transformers_generator(spec.target, spec.max_new_tokens))
    raise SonicMotionError(f"unknown rephraser kind {spec.kind!r}; expected one of {', '.join(KINDS)}")
