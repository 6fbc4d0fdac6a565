"""The metric objects of ``evaluate generation`` on their own: what each declares, and how a
result becomes its entry in the metrics JSON."""

import pytest

from sonicmotion.errors import SonicMotionError
from sonicmotion.evaluation.generation import ALL_METRICS, BY_NAME, METRICS, PROXY_METRICS, Metric, NotComputed


def test_every_metric_declares_its_model_and_reference_need():
    assert tuple(BY_NAME) == METRICS + PROXY_METRICS == tuple(m.name for m in ALL_METRICS)
    needs = {m.name: (m.model, m.needs_reference, m.paired_reference, m.proxy_label is not None) for m in ALL_METRICS}
    assert needs == {
        "clap": ("clap", False, False, False), "fd": ("clap", True, False, False),
        "fad": ("vggish", True, False, False), "kl": ("cnn14", True, True, False),
        "spatial": (None, False, False, False),
        "fd_aisfx": ("aisfx", True, False, True), "kl_aisfx": ("aisfx", True, True, True),
    }


def _raises(error):
    def compute(inputs):
        raise error
    return compute


def test_results_become_entries_computed_or_with_the_reason():
    computed = Metric("fd", lambda inputs: {"value": 1.5, "n": 3}, model="clap").measure(None)
    assert computed.as_dict() == {"computed": True, "value": 1.5, "n": 3}
    # A model metric that cannot compute is not computed, with the error as its reason.
    failed = Metric("kl", _raises(SonicMotionError("too few clips")), model="cnn14").measure(None)
    assert failed.as_dict() == {"computed": False, "value": None, "reason": "too few clips"}
    # NotComputed keeps the fields the metric reports all the same, after the reason.
    partial = Metric("spatial", _raises(NotComputed("no clip judged", n=0, not_computed=[]))).measure(None)
    assert list(partial.as_dict().items()) == [("computed", False), ("value", None), ("reason", "no clip judged"),
                                               ("n", 0), ("not_computed", [])]
    # A proxy says so in every entry, computed or not.
    proxy = Metric("fd_aisfx", _raises(SonicMotionError("x")), model="aisfx", proxy_label="FD proxy (aisfx)")
    assert list(proxy.skipped("no reference").as_dict())[-2:] == ["proxy", "label"]
    assert proxy.measure(None).as_dict()["label"] == "FD proxy (aisfx)"


def test_a_metric_without_a_model_lets_bad_input_stop_the_command():
    with pytest.raises(SonicMotionError, match="bad trajectory"):
        Metric("spatial", _raises(SonicMotionError("bad trajectory"))).measure(None)
