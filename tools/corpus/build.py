"""Build onnxcost's corpus of real exports: what users bring, made here from random weights.

Run in the corpus venv (see requirements.txt beside this file)::

    python3 -m venv /work/corpus-venv
    /work/corpus-venv/bin/pip install -r tools/corpus/requirements.txt -e .
    nice -n 10 /work/corpus-venv/bin/python tools/corpus/build.py            # all families
    /work/corpus-venv/bin/python tools/corpus/build.py --only bert --force   # a subset, rebuilt
    /work/corpus-venv/bin/python tools/corpus/build.py --list                # what it would build

Writes /work/corpus/models/<name>.onnx (external data beside it where an exporter writes it)
and /work/corpus/manifest.json (one entry per model: dims binding every symbolic input dim,
input_shapes / input_values where needed, truth_macs and where it comes from). Set
ONNXCOST_CORPUS to write elsewhere. Nothing is downloaded: transformers models are built from
config classes (tiny: hidden 64, 2 layers, vocab 1000) with random weights, and optimum exports
from a local folder saved with save_pretrained.

Each model is built by its own step; a failing step is logged (and listed in
/work/corpus/build_log.json) and the rest go on. A model whose file and manifest entry exist is
skipped unless --force. Truth MACs are torch's FlopCounterMode FLOPs / 2 on the same module and
the same concrete inputs; a derived variant (ORT-optimized, quantized, float16) keeps its
source's truth.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BART_LIKE,
    CORPUS,
    MODELS,
    binding,
    load_manifest,
    random_feeds,
    save_manifest,
    vmap_free_masks,
)

B, S, P = 2, 16, 8  # batch, sequence, past length used everywhere
VOCAB = 1000


@dataclass
class Step:
    name: str
    family: str
    build: Callable[[], list[dict]]  # returns the manifest entries it made
    makes: list[str] = field(default_factory=list)  # model names it writes (default: name)

    def __post_init__(self) -> None:
        self.makes = self.makes or [self.name]


STEPS: list[Step] = []


def step(name: str, family: str, makes: list[str] | None = None):
    def deco(fn: Callable[[], list[dict]]):
        STEPS.append(Step(name, family, fn, makes or [name]))
        return fn

    return deco


def entry(
    name: str,
    family: str,
    exporter: str,
    shapes: dict[str, list[int]] | None = None,
    table: dict[str, int] | None = None,
    input_values: dict | None = None,
    truth_macs: int | None = None,
    truth_source: str | None = None,
    notes: str = "",
) -> dict:
    """A manifest entry for models/<name>.onnx, its dims derived from the wanted input shapes."""
    path = MODELS / f"{name}.onnx"
    model = onnx.load(str(path), load_external_data=False)
    dims, whole = binding(model, shapes, table)
    ext = sorted(
        {d.value for t in model.graph.initializer for d in t.external_data if d.key == "location"}
    )
    return {
        "name": name,
        "path": str(path.relative_to(CORPUS)),
        "family": family,
        "exporter": exporter,
        "dims": dims,
        "input_shapes": whole,
        "input_values": input_values or {},
        "truth_macs": truth_macs,
        "truth_source": truth_source,
        "external_data": ext,
        "notes": notes,
    }


# ---------------------------------------------------------------- torch helpers


def torch_macs(module, args: tuple, kwargs: dict | None = None) -> int:
    """FlopCounterMode FLOPs / 2. SDPA is forced onto its math backend: on the CPU the fused
    kernel (aten._scaled_dot_product_flash_attention_for_cpu) has no FlopCounterMode formula
    and its QK^T and AV products would go uncounted; the math backend runs them as bmm."""
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        module(*args, **(kwargs or {}))
    return fc.get_total_flops() // 2


TRUTH = "torch FlopCounterMode"


def export(
    module,
    args: tuple,
    name: str,
    names_in: list[str],
    names_out: list[str],
    axes: dict[str, dict[int, str]],
    dynamo: bool,
    opset: int = 18,
) -> str:
    """torch.onnx.export into models/<name>.onnx; returns a note on how."""
    import torch

    path = MODELS / f"{name}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=names_in,
                output_names=names_out,
                dynamic_axes=axes,
                dynamo=True,
                opset_version=opset,
                verbose=False,
            )
        else:
            with vmap_free_masks():
                torch.onnx.export(
                    module,
                    args,
                    str(path),
                    input_names=names_in,
                    output_names=names_out,
                    dynamic_axes=axes,
                    dynamo=False,
                    opset_version=opset,
                )
    return f"torch {torch.__version__} onnx.export dynamo={dynamo} opset {opset}"


# ---------------------------------------------------------------- transformers, direct export


def _hf_models():
    """name -> (builder of (module, args, input names, output names, axes, shapes))."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    ids = torch.randint(0, VOCAB, (B, S))
    mask = torch.ones(B, S, dtype=torch.long)
    seq_axes = {0: "batch", 1: "sequence"}

    class CausalLM(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, use_cache=False
            ).logits

    class Encoder(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            o = self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return o.last_hidden_state, o.pooler_output

    class Vision(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            return self.m(pixel_values=pixel_values).last_hidden_state

    class Seq2Seq(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, decoder_input_ids):
            return self.m(
                input_ids=input_ids,
                attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids,
                use_cache=False,
            ).logits

    def causal(model):
        def make():
            m = CausalLM(model().eval())
            axes = {
                "input_ids": seq_axes,
                "attention_mask": seq_axes,
                "logits": {0: "batch", 1: "sequence"},
            }
            return m, (ids, mask), ["input_ids", "attention_mask"], ["logits"], axes

        return make

    small = dict(vocab_size=VOCAB, max_position_embeddings=128)
    llama_like = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        **small,
    )

    def bert():
        cfg = tf.BertConfig(
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            **small,
        )
        m = Encoder(tf.BertModel(cfg).eval())
        tt = torch.zeros(B, S, dtype=torch.long)
        axes = {
            "input_ids": seq_axes,
            "attention_mask": seq_axes,
            "token_type_ids": seq_axes,
            "last_hidden_state": seq_axes,
            "pooler_output": {0: "batch"},
        }
        return (
            m,
            (ids, mask, tt),
            ["input_ids", "attention_mask", "token_type_ids"],
            ["last_hidden_state", "pooler_output"],
            axes,
        )

    def vision(model, size):
        def make():
            m = Vision(model().eval())
            x = torch.randn(B, 3, size, size)
            axes = {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}
            return m, (x,), ["pixel_values"], ["last_hidden_state"], axes

        return make

    def seq2seq(model):
        def make():
            m = Seq2Seq(model().eval())
            dec = torch.randint(0, VOCAB, (B, S // 2))
            axes = {
                "input_ids": seq_axes,
                "attention_mask": seq_axes,
                "decoder_input_ids": {0: "batch", 1: "decoder_sequence"},
                "logits": {0: "batch", 1: "decoder_sequence"},
            }
            return (
                m,
                (ids, mask, dec),
                ["input_ids", "attention_mask", "decoder_input_ids"],
                ["logits"],
                axes,
            )

        return make

    return {
        "gpt2": causal(
            lambda: tf.GPT2LMHeadModel(
                tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=128)
            )
        ),
        "bert": bert,
        "vit": vision(
            lambda: tf.ViTModel(
                tf.ViTConfig(
                    image_size=32,
                    patch_size=8,
                    hidden_size=64,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    intermediate_size=128,
                ),
                add_pooling_layer=False,
            ),
            32,
        ),
        "llama": causal(lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**llama_like))),
        "mistral": causal(
            lambda: tf.MistralForCausalLM(tf.MistralConfig(sliding_window=8, **llama_like))
        ),
        "qwen2": causal(lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(**llama_like))),
        # 64 px / patch 4 = 16 patches a side, window 7: Swin pads every window partition
        "swin": vision(
            lambda: tf.SwinModel(
                tf.SwinConfig(
                    image_size=64,
                    patch_size=4,
                    embed_dim=32,
                    depths=[1, 1],
                    num_heads=[2, 4],
                    window_size=7,
                ),
                add_pooling_layer=False,
            ),
            64,
        ),
        "t5": seq2seq(
            lambda: tf.T5ForConditionalGeneration(
                tf.T5Config(
                    d_model=64,
                    d_ff=128,
                    d_kv=16,
                    num_layers=2,
                    num_decoder_layers=2,
                    num_heads=4,
                    vocab_size=VOCAB,
                    decoder_start_token_id=0,
                )
            )
        ),
        "bart": seq2seq(
            lambda: tf.BartForConditionalGeneration(tf.BartConfig(**BART_LIKE, **small))
        ),
    }


HF_ARCHS = ["gpt2", "bert", "vit", "llama", "mistral", "qwen2", "swin", "t5", "bart"]


def _hf_step(arch: str, dynamo: bool) -> Callable[[], list[dict]]:
    def run() -> list[dict]:
        make = _hf_models()[arch]
        module, args, names_in, names_out, axes = make()
        truth = torch_macs(module, args)
        name = f"hf_{arch}_{'dynamo' if dynamo else 'ts'}"
        how = export(module, args, name, names_in, names_out, axes, dynamo)
        shapes = {n: list(a.shape) for n, a in zip(names_in, args, strict=True)}
        notes = how
        if not dynamo:
            notes += "; TorchScript trace (sizes seen at trace time may be baked in)"
        return [
            entry(
                name,
                "transformers",
                "torch.onnx.export " + ("dynamo" if dynamo else "torchscript"),
                shapes=shapes,
                truth_macs=truth,
                truth_source=TRUTH,
                notes=notes,
            )
        ]

    return run


for _arch in HF_ARCHS:
    for _dyn in (False, True):
        _n = f"hf_{_arch}_{'dynamo' if _dyn else 'ts'}"
        step(_n, "transformers")(_hf_step(_arch, _dyn))


# ---------------------------------------------------------------- optimum exports with past


def _save_local(model, tmp: Path, tokenizer_vocab: bool = False) -> Path:
    d = tmp / "local_model"
    model.save_pretrained(d)
    return d


def _past_cache(cfg, n_layers: int, kv_heads: int, head_dim: int):
    import torch
    from transformers import DynamicCache

    cache = DynamicCache()
    for i in range(n_layers):
        cache.update(
            torch.randn(B, kv_heads, P, head_dim), torch.randn(B, kv_heads, P, head_dim), i
        )
    return cache


def _optimum_decoder(arch: str) -> Callable[[], list[dict]]:
    def run() -> list[dict]:
        import torch
        import transformers as tf
        from optimum.exporters.onnx import main_export

        torch.manual_seed(0)
        if arch == "gpt2":
            cfg = tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=128)
            model = tf.GPT2LMHeadModel(cfg).eval()
            kvh, hd, nl = 4, 16, 2
        else:
            cls_cfg, cls = {
                "llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
                "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
            }[arch]
            cfg = cls_cfg(
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                vocab_size=VOCAB,
                max_position_embeddings=128,
            )
            model = cls(cfg).eval()
            kvh, hd, nl = 2, 16, 2
        ids = torch.randint(0, VOCAB, (B, S))
        mask = torch.ones(B, S + P, dtype=torch.long)
        pos = torch.arange(P, P + S).expand(B, S)
        kw = dict(
            input_ids=ids,
            attention_mask=mask,
            past_key_values=_past_cache(cfg, nl, kvh, hd),
            use_cache=True,
        )
        if arch != "gpt2":
            kw["position_ids"] = pos
        truth = torch_macs(model, (), kw)
        name = f"optimum_{arch}_with_past"
        with tempfile.TemporaryDirectory() as t:
            local = _save_local(model, Path(t))
            out = Path(t) / "onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                main_export(
                    str(local),
                    output=str(out),
                    task="text-generation-with-past",
                    no_post_process=False,
                    do_validation=False,
                )
            _copy_onnx(out / "model.onnx", name)
        table = {
            "batch_size": B,
            "sequence_length": S,
            "past_sequence_length": P,
            "past_sequence_length + sequence_length": P + S,
            "total_sequence_length": P + S,
        }
        return [
            entry(
                name,
                "optimum",
                "optimum-onnx main_export text-generation-with-past",
                table=table,
                truth_macs=truth,
                truth_source=TRUTH,
                notes=f"batch {B}, {S} new tokens after {P} cached",
            )
        ]

    return run


def _copy_onnx(src: Path, name: str) -> None:
    """Copy an exported .onnx (with any external data, re-pointed to <name>.onnx.data)."""
    m = onnx.load(str(src), load_external_data=True)
    dst = MODELS / f"{name}.onnx"
    has_ext = any(
        (src.parent / d.value).exists()
        for t in onnx.load(str(src), load_external_data=False).graph.initializer
        for d in t.external_data
        if d.key == "location"
    )
    if has_ext:
        onnx.save(m, str(dst), save_as_external_data=True, location=f"{name}.onnx.data")
    else:
        onnx.save(m, str(dst))


for _arch in ("gpt2", "llama", "qwen2"):
    step(f"optimum_{_arch}_with_past", "optimum")(_optimum_decoder(_arch))


SEQ2SEQ_PARTS = [
    "encoder_model",
    "decoder_model",
    "decoder_with_past_model",
    "decoder_model_merged",
]


def _optimum_seq2seq(arch: str) -> Callable[[], list[dict]]:
    def run() -> list[dict]:
        import torch
        import transformers as tf
        from optimum.exporters.onnx import main_export

        torch.manual_seed(0)
        if arch == "t5":
            cfg = tf.T5Config(
                d_model=64,
                d_ff=128,
                d_kv=16,
                num_layers=2,
                num_decoder_layers=2,
                num_heads=4,
                vocab_size=VOCAB,
                decoder_start_token_id=0,
            )
            model = tf.T5ForConditionalGeneration(cfg).eval()
            task = "text2text-generation-with-past"
            enc_len = S
        else:
            cfg = tf.WhisperConfig(
                **BART_LIKE,
                vocab_size=VOCAB,
                num_mel_bins=80,
                max_source_positions=1500,
                max_target_positions=64,
                decoder_start_token_id=1,
                pad_token_id=0,
                eos_token_id=2,
                bos_token_id=1,
            )
            model = tf.WhisperForConditionalGeneration(cfg).eval()
            task = "automatic-speech-recognition-with-past"
            enc_len = 1500  # 3000 mel frames (optimum's dummy input), conv stride 2
        with tempfile.TemporaryDirectory() as t:
            local = _save_local(model, Path(t))
            if arch == "whisper":
                fe = tf.WhisperFeatureExtractor(feature_size=80)
                fe.save_pretrained(local)
            out = Path(t) / "onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                main_export(str(local), output=str(out), task=task, do_validation=False)
            made = sorted(p.name for p in out.glob("*.onnx"))
            entries = []
            for part in SEQ2SEQ_PARTS:
                if (out / f"{part}.onnx").exists():
                    name = f"optimum_{arch}_{part}"
                    _copy_onnx(out / f"{part}.onnx", name)
                    entries.append(name)
        table = {
            "batch_size": B,
            "encoder_sequence_length": enc_len,
            "decoder_sequence_length": S // 2,
            "past_decoder_sequence_length": P,
            "encoder_sequence_length_out": enc_len,
            "feature_size": 80,
            "encoder_sequence_length / 2": enc_len,
            "past_decoder_sequence_length + 1": P + 1,
            "past_decoder_sequence_length + decoder_sequence_length": P + S // 2,
        }
        truths = _seq2seq_truths(model, arch, enc_len)
        res = []
        for name in entries:
            tb = dict(table)
            # whisper: the encoder's 3000 mel frames are static; the decoders' dim
            # encoder_sequence_length is the encoder's output length (1500)
            values = {"use_cache_branch": True} if name.endswith("merged") else {}
            if name.endswith(("with_past_model", "merged")):
                tb["decoder_sequence_length"] = 1
            part = name.removeprefix(f"optimum_{arch}_")
            truth, how = truths.get(part, (None, ""))
            res.append(
                entry(
                    name,
                    "optimum",
                    f"optimum-onnx main_export {task}",
                    table=tb,
                    input_values=values,
                    truth_macs=truth,
                    truth_source=TRUTH if truth is not None else None,
                    notes=f"{how}; exported: {made}",
                )
            )
        return res

    return run


def _seq2seq_truths(model, arch: str, enc_len: int) -> dict[str, tuple[int, str]]:
    """Truth of each exported part: the encoder alone; the decoder + LM head on the encoder's
    output (decoder_model: S/2 tokens, no past); the same with a cache of P decoder positions
    and the cross-attention keys/values already cached, for 1 new token (decoder_with_past and
    the merged decoder's use_cache_branch=True)."""
    import torch
    from transformers import DynamicCache, EncoderDecoderCache

    cfg = model.config
    torch.manual_seed(1)
    enc = model.get_encoder()
    if arch == "t5":
        ids = torch.randint(0, VOCAB, (B, S))
        mask = torch.ones(B, S, dtype=torch.long)
        enc_kw: dict = {"input_ids": ids, "attention_mask": mask}
        common: dict = {"attention_mask": mask}
        heads, hd, layers = cfg.num_heads, cfg.d_kv, cfg.num_decoder_layers
    else:
        enc_kw = {"input_features": torch.randn(B, cfg.num_mel_bins, 2 * enc_len)}
        common = {}
        heads = cfg.decoder_attention_heads
        hd, layers = cfg.d_model // heads, cfg.decoder_layers
    t_enc = torch_macs(enc, (), enc_kw)
    with torch.no_grad():
        hidden = enc(**enc_kw).last_hidden_state
    dec = torch.randint(0, VOCAB, (B, S // 2))
    t_dec = torch_macs(
        model, (), dict(encoder_outputs=(hidden,), decoder_input_ids=dec, use_cache=False, **common)
    )
    self_c, cross_c = DynamicCache(), DynamicCache()
    for i in range(layers):
        self_c.update(torch.randn(B, heads, P, hd), torch.randn(B, heads, P, hd), i)
        cross_c.update(torch.randn(B, heads, enc_len, hd), torch.randn(B, heads, enc_len, hd), i)
    t_past = torch_macs(
        model,
        (),
        dict(
            encoder_outputs=(hidden,),
            decoder_input_ids=torch.randint(0, VOCAB, (B, 1)),
            past_key_values=EncoderDecoderCache(self_c, cross_c),
            use_cache=True,
            **common,
        ),
    )
    past_note = f"1 new token after {P} cached, cross K/V cached"
    return {
        "encoder_model": (t_enc, "encoder alone"),
        "decoder_model": (t_dec, f"decoder + LM head, {S // 2} tokens, no past"),
        "decoder_with_past_model": (t_past, past_note),
        "decoder_model_merged": (t_past, past_note + " (use_cache_branch=True)"),
    }


for _arch in ("t5", "whisper"):
    step(f"optimum_{_arch}", "optimum", [f"optimum_{_arch}_{p}" for p in SEQ2SEQ_PARTS])(
        _optimum_seq2seq(_arch)
    )


# ---------------------------------------------------------------- derived: ORT optimizer, quant, fp16


def _source(name: str) -> dict:
    for e in MANIFEST_NOW:
        if e["name"] == name:
            return e
    raise RuntimeError(f"source model {name} not built")


def _derived(name: str, src: str, exporter: str, notes: str) -> dict:
    """Entry of a variant of `src`: same concrete inputs, same truth."""
    from _common import concrete_shapes

    s = _source(src)
    src_model = onnx.load(str(CORPUS / s["path"]), load_external_data=False)
    want = concrete_shapes(src_model, s["dims"], s["input_shapes"])
    return entry(
        name,
        "derived",
        exporter,
        shapes=want,
        input_values=s["input_values"],
        truth_macs=s["truth_macs"],
        truth_source=(s["truth_source"] + f" (of {src})") if s["truth_source"] else None,
        notes=notes,
    )


def _ort_opt(src: str, model_type: str, heads: int, hidden: int, tag: str, **kw):
    def run() -> list[dict]:
        from onnxruntime.transformers.optimizer import optimize_model

        name = f"ortopt_{tag}"
        m = optimize_model(
            str(CORPUS / _source(src)["path"]),
            model_type=model_type,
            num_heads=heads,
            hidden_size=hidden,
            use_gpu=False,
            **kw,
        )
        m.save_model_to_file(str(MODELS / f"{name}.onnx"))
        return [
            _derived(
                name,
                src,
                f"onnxruntime.transformers optimize_model {model_type}",
                f"from {src}, model_type={model_type} {kw}",
            )
        ]

    return run


def _quant_dynamic(src: str, name: str):
    def run() -> list[dict]:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # DefaultTensorType: the fallback type where onnx's inference does not know a contrib op
        # (ORT-optimized sources), as the quantizer's own error message advises
        quantize_dynamic(
            str(CORPUS / _source(src)["path"]),
            str(MODELS / f"{name}.onnx"),
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        return [
            _derived(
                name, src, "onnxruntime.quantization quantize_dynamic", f"from {src}, QInt8 weights"
            )
        ]

    return run


def _quant_static(src: str, name: str, fmt: str):
    def run() -> list[dict]:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        s = _source(src)
        path = str(CORPUS / s["path"])
        model = onnx.load(path, load_external_data=False)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter(
                    [
                        random_feeds(model, s["dims"], s["input_shapes"], s["input_values"], seed=i)
                        for i in range(4)
                    ]
                )

            def get_next(self):
                return next(self.it, None)

        import onnxruntime as ort

        dst = str(MODELS / f"{name}.onnx")
        how, errors = "", []
        # quant_pre_process writes scratch external data (<uuid>.data) into the working folder
        with tempfile.TemporaryDirectory() as t, contextlib.chdir(t):
            # the documented preprocessing (symbolic shapes, onnx optimizer) first: without it
            # the QOperator quantizer of a Conv fails on its bias; with it, BERT's QOperator
            # result is invalid (a QGemm with a uint8 bias): then the raw export is quantized
            for pre_mode in ("full", "no_symbolic", "none"):
                pre = Path(t) / f"pre_{pre_mode}.onnx"
                try:
                    if pre_mode == "none":
                        shutil.copy(path, pre)
                    else:
                        quant_pre_process(
                            path, str(pre), skip_symbolic_shape=pre_mode == "no_symbolic"
                        )
                    quantize_static(
                        str(pre),
                        dst,
                        Reader(),
                        quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                    )
                    ort.InferenceSession(dst, providers=["CPUExecutionProvider"])
                    how = f"quant_pre_process: {pre_mode}"
                    break
                except Exception as ex:
                    errors.append(f"{pre_mode}: {type(ex).__name__}: {str(ex)[:200]}")
            else:
                raise RuntimeError("; ".join(errors))
        return [
            _derived(
                name,
                src,
                f"onnxruntime.quantization quantize_static {fmt}",
                f"from {src}, {how}, 4 random calibration batches"
                + (f"; earlier tries: {errors}" if errors else ""),
            )
        ]

    return run


def _fp16(src: str, name: str, ort_model: bool = False):
    """float16 with keep_io_types; the result must load in onnxruntime (TorchScript exports of
    transformers keep Cast(to=float) nodes that onnxconverter_common leaves feeding fp16 ops:
    for them use ort_model=True, onnxruntime.transformers' OnnxModel.convert_float_to_float16
    on the ORT-optimized graph, which is what its docs do)."""

    def run() -> list[dict]:
        import onnxruntime as ort

        path = str(CORPUS / _source(src)["path"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if ort_model:
                from onnxruntime.transformers.onnx_model import OnnxModel

                om = OnnxModel(onnx.load(path))
                om.convert_float_to_float16(keep_io_types=True)
                m16 = om.model
                how = "onnxruntime.transformers OnnxModel.convert_float_to_float16"
            else:
                from onnxconverter_common import float16

                m16 = float16.convert_float_to_float16(onnx.load(path), keep_io_types=True)
                how = "onnxconverter_common float16.convert_float_to_float16"
        ort.InferenceSession(m16.SerializeToString(), providers=["CPUExecutionProvider"])
        onnx.save(m16, str(MODELS / f"{name}.onnx"))
        return [_derived(name, src, how + " keep_io_types=True", f"from {src}")]

    return run


DERIVED = [
    ("ortopt_gpt2", _ort_opt("hf_gpt2_ts", "gpt2", 4, 64, "gpt2")),
    ("ortopt_gpt2_past", _ort_opt("optimum_gpt2_with_past", "gpt2", 4, 64, "gpt2_past")),
    ("ortopt_bert", _ort_opt("hf_bert_ts", "bert", 4, 64, "bert")),
    ("ortopt_bert_o1", _ort_opt("hf_bert_ts", "bert", 4, 64, "bert_o1", opt_level=1)),
    ("ortopt_vit", _ort_opt("hf_vit_ts", "vit", 4, 64, "vit")),
    ("ortopt_bert_dynamo", _ort_opt("hf_bert_dynamo", "bert", 4, 64, "bert_dynamo")),
    ("qdyn_bert", _quant_dynamic("hf_bert_ts", "qdyn_bert")),
    ("qdyn_ortopt_bert", _quant_dynamic("ortopt_bert", "qdyn_ortopt_bert")),
    ("qdyn_gpt2_past", _quant_dynamic("optimum_gpt2_with_past", "qdyn_gpt2_past")),
    ("qdyn_crnn", _quant_dynamic("crnn", "qdyn_crnn")),
    ("qstatic_qdq_resnet18", _quant_static("tv_resnet18", "qstatic_qdq_resnet18", "qdq")),
    ("qstatic_qop_resnet18", _quant_static("tv_resnet18", "qstatic_qop_resnet18", "qop")),
    ("qstatic_qdq_bert", _quant_static("hf_bert_ts", "qstatic_qdq_bert", "qdq")),
    ("qstatic_qop_bert", _quant_static("hf_bert_ts", "qstatic_qop_bert", "qop")),
    ("fp16_bert_dynamo", _fp16("hf_bert_dynamo", "fp16_bert_dynamo")),
    ("fp16_resnet18", _fp16("tv_resnet18", "fp16_resnet18")),
    ("fp16_ortopt_bert", _fp16("ortopt_bert", "fp16_ortopt_bert", ort_model=True)),
    ("fp16_ortopt_gpt2_past", _fp16("ortopt_gpt2_past", "fp16_ortopt_gpt2_past", ort_model=True)),
]

# ---------------------------------------------------------------- torchvision and a CRNN


def _tv_step(arch: str):
    def run() -> list[dict]:
        import torch
        import torchvision

        torch.manual_seed(0)
        m = getattr(torchvision.models, arch)(weights=None).eval()
        x = torch.randn(B, 3, 224, 224)
        truth = torch_macs(m, (x,))
        name = f"tv_{arch}"
        how = export(
            m,
            (x,),
            name,
            ["input"],
            ["output"],
            {"input": {0: "batch"}, "output": {0: "batch"}},
            dynamo=False,
            opset=17,
        )
        return [
            entry(
                name,
                "torchvision",
                "torch.onnx.export torchscript",
                shapes={"input": [B, 3, 224, 224]},
                truth_macs=truth,
                truth_source=TRUTH,
                notes=how + f"; torchvision {torchvision.__version__}, weights=None",
            )
        ]

    return run


for _arch in ("resnet18", "mobilenet_v3_small", "swin_t", "efficientnet_b0"):
    step(f"tv_{_arch}", "torchvision")(_tv_step(_arch))


@step("crnn", "torch")
def _crnn() -> list[dict]:
    import torch
    from torch import nn

    class CRNN(nn.Module):
        """Conv feature extractor over a text-line image, a BiLSTM over its columns, CTC head."""

        def __init__(self, classes: int = 37):
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(1, 32, 3, 1, 1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, 1, 1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(64, 64, 3, 1, 1),
                nn.BatchNorm2d(64),
                nn.ReLU(),
                nn.MaxPool2d((8, 1)),
            )
            self.rnn = nn.LSTM(64, 48, num_layers=2, bidirectional=True)
            self.fc = nn.Linear(96, classes)

        def forward(self, x):
            f = self.cnn(x).squeeze(2).permute(2, 0, 1)  # T, N, C
            y, _ = self.rnn(f)
            return self.fc(y)

    torch.manual_seed(0)
    m = CRNN().eval()
    x = torch.randn(B, 1, 32, 128)
    # FlopCounterMode has no formula for aten.lstm (its CPU kernel's products are not seen):
    # the LSTM is added by hand, D x T x B x 4H x (I + H) per layer (bidirectional: D = 2)
    t_steps, hid = 128 // 4, 48
    lstm = sum(2 * t_steps * B * 4 * hid * (i + hid) for i in (64, 2 * hid))
    truth = torch_macs(m, (x,)) + lstm
    how = export(
        m,
        (x,),
        "crnn",
        ["image"],
        ["logits"],
        {"image": {0: "batch", 3: "width"}, "logits": {0: "time", 1: "batch"}},
        dynamo=False,
        opset=17,
    )
    return [
        entry(
            "crnn",
            "torch",
            "torch.onnx.export torchscript",
            shapes={"image": [B, 1, 32, 128]},
            truth_macs=truth,
            truth_source=TRUTH + " + hand count (LSTM: 2 x T x B x 4H x (I+H) per layer)",
            notes=how + f"; conv + 2-layer BiLSTM + linear; LSTM part {lstm} MACs",
        )
    ]


# ---------------------------------------------------------------- scikit-learn via skl2onnx


def _skl_models():
    from sklearn.datasets import make_classification, make_regression
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    x, y = make_classification(
        n_samples=200, n_features=10, n_informative=6, n_classes=3, random_state=0
    )
    xr, yr = make_regression(n_samples=200, n_features=10, random_state=0)
    x, xr = x.astype(np.float32), xr.astype(np.float32)
    return x, {
        # Gemm 10 features x 3 classes per row (the scaler is elementwise)
        "logreg": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y),
            B * 10 * 3,
            "hand count (batch x 10 features x 3 classes: one Gemm/MatMul)",
        ),
        "rf": (
            RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, y),
            None,
            None,
        ),
        "svc": (SVC(probability=True, random_state=0).fit(x, y), None, None),
        "linreg": (
            LinearRegression().fit(xr, yr),
            B * 10,
            "hand count (batch x 10 features x 1 output)",
        ),
        # 10 -> 16 -> 3
        "mlp": (
            MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(x, y),
            B * (10 * 16 + 16 * 3),
            "hand count (batch x (10x16 + 16x3))",
        ),
    }


def _skl_step(kind: str, zipmap: bool):
    def run() -> list[dict]:
        import skl2onnx
        from skl2onnx import to_onnx

        x, models = _skl_models()
        est, truth, src = models[kind]
        is_clf = kind not in ("linreg",)
        if not zipmap and not is_clf:
            return []
        opts = None if zipmap or not is_clf else {id(est): {"zipmap": False}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = to_onnx(est, x[:1], options=opts, target_opset={"": 17, "ai.onnx.ml": 3})
        name = f"skl_{kind}" + ("" if zipmap or not is_clf else "_nozipmap")
        onnx.save(onx, str(MODELS / f"{name}.onnx"))
        inp = onx.graph.input[0].name
        return [
            entry(
                name,
                "sklearn",
                f"skl2onnx {skl2onnx.__version__} to_onnx",
                shapes={inp: [B, 10]},
                truth_macs=truth,
                truth_source=src,
                notes=("ZipMap output (seq(map))" if zipmap and is_clf else "no ZipMap"),
            )
        ]

    return run


for _k in ("logreg", "rf", "svc", "linreg", "mlp"):
    step(f"skl_{_k}", "sklearn")(_skl_step(_k, True))
    if _k != "linreg":
        step(f"skl_{_k}_nozipmap", "sklearn")(_skl_step(_k, False))


# ---------------------------------------------------------------- .onnx files shipped in wheels

WHEEL_SHAPES = {
    # silero-vad: 512 samples at 16 kHz, state [2, batch, 128]
    "silero_vad": ({"input": [B, 512], "state": [2, B, 128]}, {"sr": 16000}),
    "silero_vad_16k_op15": ({"input": [B, 512], "state": [2, B, 128]}, {"sr": 16000}),
    "silero_vad_half": ({"input": [B, 512], "state": [2, B, 128]}, {"sr": 16000}),
    "silero_vad_op18_ifless": ({"input": [B, 512], "state": [2, B, 128]}, {"sr": 16000}),
    "silero_vad_openvino_16k": ({"input": [1, 576], "state": [2, 1, 128]}, {}),
    "silero_vad_16k_sequence": ({"input": [4, 576]}, {}),
    # PaddleOCR (paddle2onnx) det / cls / rec with their -1 dims made concrete
    "ch_PP-OCRv4_det_infer": ({"x": [1, 3, 320, 320]}, {}),
    "ch_ppocr_mobile_v2.0_cls_infer": ({"x": [B, 3, 48, 192]}, {}),
    "ch_PP-OCRv4_rec_infer": ({"x": [B, 3, 48, 320]}, {}),
}


def _wheel_files() -> dict[str, Path]:
    import importlib.util

    found = {}
    for pkg in ("silero_vad", "rapidocr_onnxruntime", "rapidocr"):
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for p in sorted(Path(root).rglob("*.onnx")):
                found[f"wheel_{pkg.split('_')[0]}_{p.stem}"] = p
    import onnx as _onnx_pkg

    light = Path(_onnx_pkg.__file__).parent / "backend/test/data/light"
    for p in sorted(light.glob("*.onnx")):
        found[f"wheel_onnx_{p.stem}"] = p
    return found


def _wheel_step(name: str, src: Path):
    def run() -> list[dict]:
        shutil.copy(src, MODELS / f"{name}.onnx")
        m = onnx.load(str(src), load_external_data=False)
        spec = WHEEL_SHAPES.get(src.stem)
        inputs = [
            vi.name for vi in m.graph.input if vi.name not in {i.name for i in m.graph.initializer}
        ]
        if spec is None:
            shapes, values = {}, {}
        else:
            shapes = {k: v for k, v in spec[0].items() if k in inputs}
            values = {k: v for k, v in spec[1].items() if k in inputs}
        pkg = src.parts[src.parts.index("site-packages") + 1]
        return [
            entry(
                name,
                "wheel",
                f"shipped in the {pkg} wheel",
                shapes=shapes,
                input_values=values,
                notes=f"{pkg}/{src.name}; inputs {inputs}",
            )
        ]

    return run


# ---------------------------------------------------------------- onnxruntime-genai model builder


def _tiny_tokenizer(folder: Path) -> None:
    """A word-level tokenizer of VOCAB made-up tokens (the builder saves the model's tokenizer
    beside it and fails without one; none may be downloaded)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"t{i}": i for i in range(3, VOCAB)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    ).save_pretrained(folder)


def _genai_step(precision: str, arch: str = "llama"):
    def run() -> list[dict]:
        import subprocess

        import torch
        import transformers as tf

        torch.manual_seed(0)
        common = dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=VOCAB,
            max_position_embeddings=128,
        )
        if arch == "mistral":  # the builder declares the window on its attention op
            cfg = tf.MistralConfig(sliding_window=4, **common)
            model = tf.MistralForCausalLM(cfg).eval()
        else:
            cfg = tf.LlamaConfig(**common)
            model = tf.LlamaForCausalLM(cfg).eval()
        name = f"genai_{arch}_{precision}"
        with tempfile.TemporaryDirectory() as t:
            local = _save_local(model, Path(t))
            _tiny_tokenizer(local)
            out = Path(t) / "out"
            cmd = [
                sys.executable,
                "-m",
                "onnxruntime_genai.models.builder",
                "-i",
                str(local),
                "-o",
                str(out),
                "-p",
                precision,
                "-e",
                "cpu",
                "-c",
                str(Path(t) / "cache"),
            ]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise RuntimeError(f"builder failed: {(r.stderr or r.stdout)[-1500:]}")
            _copy_onnx(out / "model.onnx", name)
        # a decode step: GroupQueryAttention refuses batch > 1 with several new tokens and a past
        pos = torch.arange(P, P + 1).expand(B, 1)
        kw = dict(
            input_ids=torch.randint(0, VOCAB, (B, 1)),
            attention_mask=torch.ones(B, 1 + P, dtype=torch.long),
            position_ids=pos,
            past_key_values=_past_cache(cfg, 2, 2, 16),
            use_cache=True,
        )
        truth = torch_macs(model, (), kw)
        table = {
            "batch_size": B,
            "sequence_length": 1,
            "past_sequence_length": P,
            "total_sequence_length": P + 1,
        }
        return [
            entry(
                name,
                "genai",
                f"onnxruntime_genai.models.builder -p {precision} -e cpu",
                table=table,
                truth_macs=truth,
                truth_source=TRUTH,
                notes=f"tiny {arch} (GQA 4/2), 1 new token after {P} cached",
            )
        ]

    return run


for _p in ("fp32", "int4"):
    step(f"genai_llama_{_p}", "genai")(_genai_step(_p))
step("genai_mistral_fp32", "genai")(_genai_step("fp32", "mistral"))

# ---------------------------------------------------------------- driver

MANIFEST_NOW: list[dict] = []


def all_steps() -> list[Step]:
    steps = list(STEPS)
    # derived variants after their sources
    steps += [Step(n, "derived", fn) for n, fn in DERIVED]
    with contextlib.suppress(Exception):
        for n, p in _wheel_files().items():
            steps.append(Step(n, "wheel", _wheel_step(n, p)))
    return steps


def _remove(name: str) -> None:
    for p in MODELS.glob(f"{name}.onnx*"):
        p.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="build only steps whose name contains this (comma: several)")
    ap.add_argument("--force", action="store_true", help="rebuild existing models")
    ap.add_argument("--list", action="store_true", help="list the steps and exit")
    ap.add_argument("--skip", help="skip steps whose name contains this (comma: several)")
    args = ap.parse_args(argv)

    MODELS.mkdir(parents=True, exist_ok=True)
    steps = all_steps()
    if args.only:
        subs = args.only.split(",")
        steps = [s for s in steps if any(x in s.name for x in subs)]
    if args.skip:
        subs = args.skip.split(",")
        steps = [s for s in steps if not any(x in s.name for x in subs)]
    if args.list:
        for s in steps:
            print(f"{s.family:12s} {s.name}")
        return 0

    # entries whose file is gone (renamed or removed steps) leave the manifest
    MANIFEST_NOW[:] = [e for e in load_manifest() if (CORPUS / e["path"]).exists()]
    save_manifest(MANIFEST_NOW)
    log_path = CORPUS / "build_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    for s in steps:
        have = {e["name"] for e in MANIFEST_NOW}
        if not args.force and all(n in have and (MODELS / f"{n}.onnx").exists() for n in s.makes):
            print(f"skip   {s.name} (built)")
            continue
        for n in s.makes:
            _remove(n)
        t0 = time.time()
        try:
            made = s.build()
        except Exception as e:  # one family's failure must not stop the rest
            for n in s.makes:
                _remove(n)
            msg = f"{type(e).__name__}: {e}"
            print(f"FAIL   {s.name} ({time.time() - t0:.1f}s): {msg[:300]}")
            log[s.name] = {
                "ok": False,
                "error": msg[:4000],
                "traceback": traceback.format_exc()[-4000:],
            }
            MANIFEST_NOW[:] = [e for e in MANIFEST_NOW if e["name"] not in s.makes]
        else:
            names = [m["name"] for m in made]
            print(f"ok     {s.name} ({time.time() - t0:.1f}s): {', '.join(names) or '-'}")
            log[s.name] = {"ok": True, "made": names, "seconds": round(time.time() - t0, 1)}
            MANIFEST_NOW[:] = [
                e for e in MANIFEST_NOW if e["name"] not in set(names) | set(s.makes)
            ] + made
        save_manifest(MANIFEST_NOW)
        log_path.write_text(json.dumps(log, indent=1) + "\n")
    ok = sum(1 for v in log.values() if v["ok"])
    print(
        f"{len(MANIFEST_NOW)} models in {CORPUS / 'manifest.json'}; "
        f"steps ok {ok}, failed {len(log) - ok} (see build_log.json)"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
