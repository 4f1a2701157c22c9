"""Real model graphs shipped in the onnx wheel (weights built by ConstantOfShape)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

import onnxcost

LIGHT = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


@pytest.mark.parametrize(
    ("name", "params"),
    [
        # torchvision resnet50: 25,557,032 trainable + 53,120 BatchNorm running mean/var constants
        ("light_resnet50.onnx", 25_557_032 + 53_120),
        # the conventions' AlexNet (with Dropout, LRN): same weights as test vector 1
        ("light_bvlc_alexnet.onnx", 60_965_224),
    ],
)
def test_light_model_parameters(name: str, params: int) -> None:
    r = onnxcost.analyze(LIGHT / name)
    assert r.totals.params == params
    assert not r.totals.lower_bound


@pytest.mark.parametrize("path", sorted(LIGHT.glob("*.onnx")), ids=lambda p: p.stem)
def test_light_models_analyse_completely(path: Path) -> None:
    r = onnxcost.analyze(path)
    assert r.totals.macs > 0 and r.totals.params > 0
    assert r.uncounted == [] and r.unresolved == []
    assert r.totals.activations_peak <= r.totals.activations_total
