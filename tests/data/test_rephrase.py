import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from sonicmotion.data.captions import template_caption
from sonicmotion.data.corpora import SourceSpec, read_sources
from sonicmotion.data.rephrase import (
    AnswerCache,
    Rephraser,
    RephraserSpec,
    answer_problems,
    build_prompt,
    make_rephraser,
)
from sonicmotion.data.sampling import SpatialParameters
from sonicmotion.errors import SonicMotionError

MOVING = SpatialParameters("moving", "azimuth", 10.0, 0.0, 100.0, 0.0, "ccw", "moderate", 1.0, 6.0)


def _good_answer(prompt: str) -> str:
    """What a well-behaved model says: the original caption with every requested word."""
    words = prompt.split("use these words exactly: ")[1].split(". Answer")[0]
    caption = prompt.split("Original caption: ")[1].split("\n")[0]
    return f"{caption.rstrip('.')} - heard " + " then ".join(w.strip('"') for w in words.split(", ")) + "."


def test_prompt_carries_caption_parameters_and_required_words():
    template = template_caption("A door creaks.", MOVING, seed=0)
    prompt = build_prompt("A door creaks.", MOVING, template)
    assert "A door creaks." in prompt and template in prompt
    for word in ('"front"', '"left"', '"moderate"', '"counter-clockwise"', "azimuth 100 deg", "1.0 s to 6.0 s"):
        assert word in prompt


def test_answers_are_validated_and_cached(tmp_path):
    asked = []

    def generate(prompt):
        asked.append(prompt)
        return {0: _good_answer(prompt), 1: "A door creaks somewhere.", 2: "x " * 300}[len(asked) - 1]

    template = template_caption("A door creaks.", MOVING, seed=0)
    rephraser = Rephraser(generate, AnswerCache(tmp_path), "fake")
    text, origin = rephraser.rephrase("A door creaks.", MOVING, template)
    assert origin == "llm" and "counter-clockwise" in text and text != template
    # The same request again: answered from the cache, even by a new process (new cache object).
    again = Rephraser(generate, AnswerCache(tmp_path), "fake")
    assert again.rephrase("A door creaks.", MOVING, template) == (text, "llm") and len(asked) == 1
    # An answer that drops the direction words, and one that runs long: template kept.
    assert rephraser.rephrase("A door slams.", MOVING, template) == (template, "template")
    assert rephraser.rephrase("A door opens.", MOVING, template) == (template, "template")
    assert len(asked) == 3 and rephraser.rejected == 2
    assert "drops" in answer_problems("A door creaks on the left.", MOVING, template)[0]


class _FakeChat(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        prompt = body["messages"][0]["content"]
        content = "ready" if "ready" in prompt and "Original caption" not in prompt else _good_answer(prompt)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = HTTPServer(("127.0.0.1", 0), _FakeChat)
    _FakeChat.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def test_http_endpoint_rephrases_a_build_and_a_rerun_never_asks_twice(chat_server, corpora, tmp_path):
    from sonicmotion.data.builder import BuildConfig, build_dataset
    from sonicmotion.data.index import iter_index

    spec = RephraserSpec.parse(f"{chat_server}#tiny-chat", str(tmp_path / "cache"))
    assert (spec.kind, spec.target, spec.model) == ("http", chat_server, "tiny-chat")
    sources, skipped = read_sources([SourceSpec.parse(corpora["wavcaps"])])
    config = BuildConfig(shard_size=2, rephraser=spec, progress=False, plots=False)
    build_dataset(sources, skipped, tmp_path / "a", config)
    asked = [r for r in _FakeChat.requests if "Original caption" in r["messages"][0]["content"]]
    assert len(asked) == 6 and {r["model"] for r in asked} == {"tiny-chat"} and asked[0]["temperature"] == 0
    rows = [row for rows in iter_index(tmp_path / "a" / "index.parquet") for row in rows]
    assert {r["caption_origin"] for r in rows} == {"llm"}
    assert all(" - heard " in r["spatial_caption"] for r in rows)
    build_dataset(sources, skipped, tmp_path / "b", config)  # same cache folder
    assert len([r for r in _FakeChat.requests if "Original caption" in r["messages"][0]["content"]]) == 6
    again = [row for rows in iter_index(tmp_path / "b" / "index.parquet") for row in rows]
    assert [r["spatial_caption"] for r in again] == [r["spatial_caption"] for r in rows]


def test_unreachable_endpoint_and_missing_model_fail_before_work(tmp_path):
    dead = make_rephraser(RephraserSpec("http", "http://127.0.0.1:9/v1", str(tmp_path), timeout_seconds=2))
    with pytest.raises(SonicMotionError, match="rephraser endpoint"):
        dead.check()
    with pytest.raises(SonicMotionError, match="no config.json"):
        make_rephraser(RephraserSpec.parse(f"transformers:{tmp_path / 'nomodel'}", str(tmp_path)))
    with pytest.raises(SonicMotionError, match="expected transformers"):
        RephraserSpec.parse("gemma", str(tmp_path))
    secure = RephraserSpec.parse("https://llm.example.org/v1#big", str(tmp_path))
    assert (secure.kind, secure.target, secure.model) == ("http", "https://llm.example.org/v1", "big")


@pytest.mark.slow
def test_local_transformers_model_loads_from_a_path_and_bad_answers_keep_the_template(tmp_path):
    """A tiny random GPT-2 saved to disk stands in for a real model (no download)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["[UNK]", "[EOS]", "the", "sound", "front", "left", "moves", "fast", "clockwise", "."]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = tmp_path / "tiny-lm"
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", eos_token="[EOS]").save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=1024, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=1, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    rephraser = make_rephraser(RephraserSpec.parse(f"transformers:{folder}", str(tmp_path / "cache")))
    rephraser.check()
    template = template_caption("A door creaks.", MOVING, seed=0)
    text, origin = rephraser.rephrase("A door creaks.", MOVING, template)
    assert rephraser.asked == 1
    # A random model's answer lacks the Table 1 words, so the template stays.
    assert (text, origin) == (template, "template")
