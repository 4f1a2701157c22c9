"""Reference models in plain PyTorch (no torchvision, no transformers) for tools/compare_torch.py.

Each builder returns `(module, example_inputs, input_names)` at the real architecture's shape:
ResNet-18, MobileNetV2, VGG-11, ViT-Tiny/16, BERT-base, GPT-2 small (tied lm_head), and a
U-Net without BatchNorm. Weights are left at PyTorch's default init: only shapes matter here.
Attention is written out as matmul + softmax so both counters see the same contractions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# --- CNNs --------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.down(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _conv_bn_relu6(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu6(cin, hidden, 1))
        layers += [
            _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
    SETTINGS += ((6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu6(cin, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class VGG11(nn.Module):
    CFG = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU()]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        # At 224x224 the features are already 7x7, so the adaptive pool is left out.
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(4096, classes),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class UNet(nn.Module):
    """The original U-Net layout (no BatchNorm), padded convs, ConvTranspose up-sampling."""

    def __init__(self, cin: int = 3, classes: int = 2, base: int = 32, depth: int = 4) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(depth + 1)]
        self.downs = nn.ModuleList()
        c = cin
        for w in widths[:-1]:
            self.downs.append(self._double(c, w))
            c = w
        self.bottom = self._double(c, widths[-1])
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(w * 2, w, 2, 2))
            self.up_convs.append(self._double(w * 2, w))
        self.head = nn.Conv2d(base, classes, 1)

    @staticmethod
    def _double(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips), strict=True):
            x = conv(torch.cat([up(x), skip], dim=1))
        return self.head(x)


# --- transformers ------------------------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        hd = d // self.heads
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)
        if self.causal:
            # Built from the sequence positions, so the exporter need not store a T x T table.
            pos = torch.arange(t, device=x.device)
            scores = scores.masked_fill(pos[None, :] > pos[:, None], float("-inf"))
        out = scores.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class PreLNBlock(nn.Module):
    """ViT / GPT-2 block: x + attn(ln(x)), x + mlp(ln(x))."""

    def __init__(self, dim: int, heads: int, mlp: int, causal: bool, gelu: str) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads, causal)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)
        self.gelu = gelu

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate=self.gelu))


class ViT(nn.Module):
    def __init__(
        self,
        image: int = 224,
        patch: int = 16,
        dim: int = 192,
        depth: int = 12,
        heads: int = 3,
        mlp: int = 768,
        classes: int = 1000,
    ) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(
            *[PreLNBlock(dim, heads, mlp, False, "none") for _ in range(depth)]
        )
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.ln(self.blocks(x))
        return self.head(x[:, 0])


class BertLayer(nn.Module):
    """Post-LN encoder layer as in BERT: ln(x + attn(x)), ln(x + ffn(x))."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.attn = SelfAttention(dim, heads)
        self.ln1 = nn.LayerNorm(dim, eps=1e-12)
        self.fc1 = nn.Linear(dim, ffn)
        self.fc2 = nn.Linear(ffn, dim)
        self.ln2 = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, x: Tensor) -> Tensor:
        x = self.ln1(x + self.attn(x))
        return self.ln2(x + self.fc2(F.gelu(self.fc1(x))))


class Bert(nn.Module):
    def __init__(
        self,
        vocab: int = 30522,
        dim: int = 768,
        depth: int = 12,
        heads: int = 12,
        ffn: int = 3072,
        max_pos: int = 512,
        type_vocab: int = 2,
    ) -> None:
        super().__init__()
        self.word = nn.Embedding(vocab, dim)
        self.position = nn.Embedding(max_pos, dim)
        self.token_type = nn.Embedding(type_vocab, dim)
        self.ln = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.Sequential(*[BertLayer(dim, heads, ffn) for _ in range(depth)])
        self.pooler = nn.Linear(dim, dim)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> tuple[Tensor, Tensor]:
        t = input_ids.shape[1]
        pos = self.position.weight[:t]  # a Slice of the table, not a gathered copy
        x = self.word(input_ids) + self.token_type(token_type_ids) + pos
        x = self.layers(self.ln(x))
        return x, torch.tanh(self.pooler(x[:, 0]))


class GPT2(nn.Module):
    def __init__(
        self,
        vocab: int = 50257,
        dim: int = 768,
        depth: int = 12,
        heads: int = 12,
        ctx: int = 1024,
    ) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.wpe = nn.Embedding(ctx, dim)
        self.blocks = nn.Sequential(
            *[PreLNBlock(dim, heads, 4 * dim, True, "tanh") for _ in range(depth)]
        )
        self.ln_f = nn.LayerNorm(dim)

    def forward(self, input_ids: Tensor) -> Tensor:
        t = input_ids.shape[1]
        x = self.wte(input_ids) + self.wpe.weight[:t]
        x = self.ln_f(self.blocks(x))
        return x @ self.wte.weight.t()  # lm_head tied to the token embedding


# --- registry ----------------------------------------------------------------------------


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and BN statistic distinct random values, as a trained model has.

    Default init leaves many tensors equal (LayerNorm ones/zeros, BN mean 0 / var 1), and
    exporters merge equal initializers, which would blur the parameter comparison.
    """
    g = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.weight.add_(1.0)
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    build: Callable[[], tuple[nn.Module, tuple[Tensor, ...], list[str]]]
    # Inputs whose sequence axis may be exported as a named symbolic dim: {input: axis}.
    seq_axes: dict[str, int] | None = None


def _image(model: nn.Module, size: int = 224) -> tuple[nn.Module, tuple[Tensor, ...], list[str]]:
    return model, (torch.randn(1, 3, size, size),), ["input"]


def _tokens(vocab: int, seq: int, n: int) -> tuple[Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, seq), generator=g)
    return (ids,) if n == 1 else (ids, torch.zeros(1, seq, dtype=torch.long))


SEQ = 128

SPECS: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("resnet18", "ResNet-18, 1x3x224x224", lambda: _image(ResNet18())),
        Spec("mobilenet_v2", "MobileNetV2 1.0, 1x3x224x224", lambda: _image(MobileNetV2())),
        Spec("vgg11", "VGG-11 (no BN), 1x3x224x224", lambda: _image(VGG11())),
        Spec("vit_tiny", "ViT-Tiny/16 (192 wide, 12 deep), 1x3x224x224", lambda: _image(ViT())),
        Spec(
            "bert_base",
            f"BERT-base encoder + pooler, 1x{SEQ} tokens",
            lambda: (Bert(), _tokens(30522, SEQ, 2), ["input_ids", "token_type_ids"]),
            {"input_ids": 1, "token_type_ids": 1},
        ),
        Spec(
            "gpt2_small",
            f"GPT-2 small, tied lm_head, 1x{SEQ} tokens",
            lambda: (GPT2(), _tokens(50257, SEQ, 1), ["input_ids"]),
            {"input_ids": 1},
        ),
        Spec("unet", "U-Net (base 32, depth 4, no BN), 1x3x128x128", lambda: _image(UNet(), 128)),
    )
}
