"""A wide zoo of torchvision exports, for checking shape engines against each other.

    /work/corpus-venv/bin/python tools/corpus/zoo.py OUT_DIR [--only SUBSTR]
    python tools/fast_parity.py OUT_DIR

No truths: these files exercise ops and exporter habits the main corpus holds few of (dilated,
grouped and 3-D convs, transposed convs, Resize in its modes, Pad, ceil-mode pools, padding
arithmetic), through both torch exporters and several opsets. Each model is exported with a
dynamic batch and bound to batch 2 in a manifest.json beside the models, the way
tools/fast_parity.py reads it.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

# (torchvision builder, input shape without batch, exporter opsets to use)
ZOO = [
    ("alexnet", (3, 96, 96)),
    ("vgg11_bn", (3, 64, 64)),
    ("googlenet", (3, 96, 96)),
    ("inception_v3", (3, 96, 96)),
    ("resnext50_32x4d", (3, 64, 64)),
    ("wide_resnet50_2", (3, 64, 64)),
    ("densenet121", (3, 64, 64)),
    ("squeezenet1_1", (3, 64, 64)),
    ("shufflenet_v2_x0_5", (3, 64, 64)),
    ("mobilenet_v2", (3, 64, 64)),
    ("mnasnet0_5", (3, 64, 64)),
    ("regnet_y_400mf", (3, 64, 64)),
    ("convnext_tiny", (3, 64, 64)),
    ("efficientnet_v2_s", (3, 64, 64)),
    ("vit_b_16", (3, 224, 224)),
    ("maxvit_t", (3, 224, 224)),
    ("segmentation.fcn_resnet50", (3, 64, 64)),
    ("segmentation.deeplabv3_mobilenet_v3_large", (3, 64, 64)),
    ("segmentation.lraspp_mobilenet_v3_large", (3, 64, 64)),
    ("video.r3d_18", (3, 4, 32, 32)),
]
VARIANTS = [("ts11", False, 11), ("ts17", False, 17), ("dynamo", True, 18)]


def export(arch: str, shape: tuple, dynamo: bool, opset: int, path: Path) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    mod = torchvision.models
    for part in arch.split(".")[:-1]:
        mod = getattr(mod, part)
    kwargs: dict = {"aux_loss": False, "weights_backbone": None} if "segment" in arch else {}
    if arch == "inception_v3" or arch == "googlenet":
        kwargs["aux_logits"] = False
        kwargs["init_weights"] = False
    m = getattr(mod, arch.split(".")[-1])(weights=None, **kwargs).eval()
    x = torch.randn(2, *shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            m,
            (x,),
            str(path),
            input_names=["input"],
            dynamic_axes=None if dynamo else {"input": {0: "batch"}},
            dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},) if dynamo else None,
            opset_version=opset,
            dynamo=dynamo,
            external_data=False,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    models = args.out / "models"
    models.mkdir(parents=True, exist_ok=True)
    manifest = []
    for arch, shape in ZOO:
        for tag, dynamo, opset in VARIANTS:
            name = f"{arch.split('.')[-1]}_{tag}"
            if args.only not in name:
                continue
            path = models / f"{name}.onnx"
            try:
                if not path.exists():
                    export(arch, shape, dynamo, opset, path)
            except Exception as e:  # an exporter's failure is not ours: note it, go on
                print(f"{name}: export failed: {str(e).splitlines()[0][:160]}")
                continue
            manifest.append({"name": name, "path": f"models/{name}.onnx", "dims": {"batch": 2},
                             "input_shapes": {}})  # fmt: skip
            print(f"{name}: ok")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main()
