"""A wide zoo of Hugging Face transformers exports, for checking shape engines against each other.

    /work/corpus-venv/bin/python tools/corpus/hf_zoo.py OUT_DIR [--only A,B] [--exporters ts17,..]
    python tools/fast_parity.py OUT_DIR/models

No truths and no downloads: each architecture is built from its config class with a tiny random
config (2 layers, hidden 32-64, 2-4 heads, vocab 1000, torch.manual_seed(0)) and exported
through up to three exporters:

    ts17     torch.onnx.export(dynamo=False, opset_version=17), dynamic batch and sequence axes
    dynamo   torch.onnx.export(dynamo=True) (opset 18), the same axes
    optimum  optimum-onnx's onnx_export_from_model on the in-memory model; decoders and seq2seq
             models with and without past (every .onnx it writes: encoder_model, decoder_model,
             decoder_with_past_model, decoder_model_merged, model)
    ts18     only where ts17 fails for an op opset 17 lacks (aten::bitwise_and in the
             sliding-window masks of mistral and gemma2)

Known failures (torch 2.14, transformers 4.57, optimum-onnx 0.1.0, last run): mistral and gemma2
ts17 (bitwise_and needs opset 18: exported as ts18 instead); dinov2 optimum (its dummy input
generator loads an image processor from the model's hub path: none offline).

Every input dim is bound in a manifest.json beside the models, the way tools/fast_parity.py reads
it: batch 2, sequence 16, past 8 (images and audio at the sizes they were exported with). The dim
names are read from the exported inputs. A merged decoder is bound to use_cache_branch = True.
An exporter's failure is noted and skipped; files already there are not exported again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import onnx
from _common import BART_LIKE, binding, vmap_free_masks

B, S, P = 2, 16, 8
VOCAB = 1000
EXPORTERS = ("ts17", "dynamo", "optimum")


# ---------------------------------------------------------------- the architectures


def _specs() -> dict:
    """arch -> spec: build (a fresh model), kind, torch export options, optimum tasks/shapes.

    kind: encoder (ids, mask[, token types] -> last_hidden_state), causal (ids, mask -> logits),
    seq2seq (ids, mask, decoder ids -> logits), vision (pixel_values -> last_hidden_state),
    audio (input_features or input_values -> last_hidden_state).
    """
    import transformers as tf

    small = dict(vocab_size=VOCAB, max_position_embeddings=128)
    bert_like = dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, **small
    )
    llama_like = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        **small,
    )

    bart_like = BART_LIKE
    wav2vec_like = dict(  # wav2vec2, hubert: a 3-layer conv front end, 1600 samples -> 79 frames
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_stride=(5, 2, 2),
        conv_kernel=(10, 3, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        vocab_size=100,
    )

    def t5cfg():
        return tf.T5Config(
            d_model=64,
            d_ff=128,
            d_kv=16,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            vocab_size=VOCAB,
            decoder_start_token_id=0,
        )

    def whispercfg():
        return tf.WhisperConfig(
            **bart_like,
            vocab_size=VOCAB,
            num_mel_bins=16,
            max_source_positions=32,  # 64 mel frames in, conv stride 2
            max_target_positions=64,
            decoder_start_token_id=1,
            pad_token_id=0,
            eos_token_id=2,
            bos_token_id=1,
        )

    def vit_like(cfg_cls):
        return cfg_cls(
            image_size=32,
            patch_size=8,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
        )

    return {
        # ---- encoders
        "bert": dict(
            kind="encoder", tt=True, build=lambda: tf.BertModel(tf.BertConfig(**bert_like))
        ),
        "distilbert": dict(
            kind="encoder",
            build=lambda: tf.DistilBertModel(
                tf.DistilBertConfig(dim=64, n_layers=2, n_heads=4, hidden_dim=128, **small)
            ),
        ),
        "roberta": dict(
            kind="encoder",
            build=lambda: tf.RobertaModel(
                tf.RobertaConfig(**{**bert_like, "max_position_embeddings": 130})
            ),
        ),
        "albert": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.AlbertModel(tf.AlbertConfig(embedding_size=32, **bert_like)),
        ),
        "electra": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.ElectraModel(tf.ElectraConfig(embedding_size=32, **bert_like)),
        ),
        "deberta_v2": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.DebertaV2Model(
                tf.DebertaV2Config(  # v3-like: relative attention, log buckets, shared keys
                    relative_attention=True,
                    pos_att_type=["p2c", "c2p"],
                    position_buckets=32,
                    max_relative_positions=-1,
                    share_att_key=True,
                    norm_rel_ebd="layer_norm",
                    position_biased_input=False,
                    **bert_like,
                )
            ),
        ),
        "mobilebert": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.MobileBertModel(
                tf.MobileBertConfig(
                    embedding_size=32,
                    intra_bottleneck_size=32,
                    true_hidden_size=32,
                    num_feedforward_networks=2,
                    **{**bert_like, "intermediate_size": 64},
                )
            ),
        ),
        "xlm_roberta": dict(
            kind="encoder",
            build=lambda: tf.XLMRobertaModel(
                tf.XLMRobertaConfig(**{**bert_like, "max_position_embeddings": 130})
            ),
        ),
        "clip_text": dict(
            kind="encoder",
            build=lambda: tf.CLIPTextModel(
                tf.CLIPTextConfig(
                    hidden_size=64,
                    intermediate_size=128,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    vocab_size=VOCAB,
                    max_position_embeddings=64,
                )
            ),
            clip_text=True,
        ),
        # ---- decoders
        "gpt2": dict(
            kind="causal",
            build=lambda: tf.GPT2LMHeadModel(
                tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=128)
            ),
        ),
        "gpt_neo": dict(
            kind="causal",
            build=lambda: tf.GPTNeoForCausalLM(
                tf.GPTNeoConfig(
                    hidden_size=64,
                    num_layers=2,
                    num_heads=4,
                    attention_types=[[["global", "local"], 1]],
                    window_size=8,
                    intermediate_size=128,
                    **small,
                )
            ),
        ),
        "opt": dict(
            kind="causal",
            build=lambda: tf.OPTForCausalLM(
                tf.OPTConfig(
                    hidden_size=64,
                    ffn_dim=128,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    word_embed_proj_dim=64,
                    **small,
                )
            ),
        ),
        "bloom": dict(
            kind="causal",
            build=lambda: tf.BloomForCausalLM(
                tf.BloomConfig(hidden_size=64, n_layer=2, n_head=4, vocab_size=VOCAB)
            ),
        ),
        "llama": dict(
            kind="causal", build=lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**llama_like))
        ),
        "mistral": dict(
            kind="causal",
            build=lambda: tf.MistralForCausalLM(tf.MistralConfig(sliding_window=8, **llama_like)),
        ),
        "qwen2": dict(
            kind="causal", build=lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(**llama_like))
        ),
        "phi": dict(
            kind="causal",
            build=lambda: tf.PhiForCausalLM(
                tf.PhiConfig(
                    hidden_size=64,
                    intermediate_size=128,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    partial_rotary_factor=0.5,
                    **small,
                )
            ),
        ),
        "gemma": dict(
            kind="causal",
            build=lambda: tf.GemmaForCausalLM(
                tf.GemmaConfig(**{**llama_like, "num_key_value_heads": 1}, head_dim=16)
            ),
        ),
        "falcon": dict(
            kind="causal",
            build=lambda: tf.FalconForCausalLM(
                tf.FalconConfig(
                    hidden_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=VOCAB
                )
            ),
        ),
        # ---- seq2seq
        "t5_encoder": dict(kind="encoder", build=lambda: tf.T5EncoderModel(t5cfg()), optimum=False),
        "t5": dict(kind="seq2seq", build=lambda: tf.T5ForConditionalGeneration(t5cfg())),
        "bart": dict(
            kind="seq2seq",
            build=lambda: tf.BartForConditionalGeneration(
                tf.BartConfig(
                    **bart_like,
                    **small,
                )
            ),
        ),
        # torch exporters: the encoder; optimum: the speech-recognition parts
        "whisper": dict(
            kind="audio_features",
            build=lambda: tf.WhisperForConditionalGeneration(whispercfg()),
            mel=16,
            frames=64,
            opt_tasks=["automatic-speech-recognition", "automatic-speech-recognition-with-past"],
            opt_shapes=dict(nb_max_frames=64, feature_size=16),
            table=dict(encoder_sequence_length=32, feature_size=16),
        ),
        "wav2vec2": dict(
            kind="audio_values",
            build=lambda: tf.Wav2Vec2Model(
                tf.Wav2Vec2Config(
                    **wav2vec_like,
                )
            ),
            samples=1600,
            opt_shapes=dict(audio_sequence_length=1600),
            table=dict(sequence_length=1600),
        ),
        # ---- vision
        "vit": dict(kind="vision", size=32, build=lambda: tf.ViTModel(vit_like(tf.ViTConfig))),
        "deit": dict(kind="vision", size=32, build=lambda: tf.DeiTModel(vit_like(tf.DeiTConfig))),
        "convnext": dict(
            kind="vision",
            size=64,
            build=lambda: tf.ConvNextModel(
                tf.ConvNextConfig(hidden_sizes=[16, 32], depths=[1, 1], num_stages=2, image_size=64)
            ),
        ),
        # 64 px / patch 4 = 16 patches a side, window 7: Swin pads every window partition
        "swin": dict(
            kind="vision",
            size=64,
            build=lambda: tf.SwinModel(
                tf.SwinConfig(
                    image_size=64,
                    patch_size=4,
                    embed_dim=32,
                    depths=[1, 1],
                    num_heads=[2, 4],
                    window_size=7,
                )
            ),
        ),
        # ---- more of the same families (cheap: each takes seconds)
        "convbert": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.ConvBertModel(
                tf.ConvBertConfig(embedding_size=64, head_ratio=2, conv_kernel_size=9, **bert_like)
            ),
        ),
        "roformer": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.RoFormerModel(tf.RoFormerConfig(embedding_size=64, **bert_like)),
        ),
        "mpnet": dict(
            kind="encoder",
            build=lambda: tf.MPNetModel(
                tf.MPNetConfig(**{**bert_like, "max_position_embeddings": 130})
            ),
        ),
        "squeezebert": dict(
            kind="encoder",
            tt=True,
            build=lambda: tf.SqueezeBertModel(
                tf.SqueezeBertConfig(
                    embedding_size=64,
                    q_groups=2,
                    k_groups=2,
                    v_groups=2,
                    post_attention_groups=2,
                    intermediate_groups=2,
                    output_groups=2,
                    **bert_like,
                )
            ),
        ),
        "gptj": dict(
            kind="causal",
            build=lambda: tf.GPTJForCausalLM(
                tf.GPTJConfig(
                    n_embd=64, n_layer=2, n_head=4, rotary_dim=8, vocab_size=VOCAB, n_positions=128
                )
            ),
        ),
        "codegen": dict(
            kind="causal",
            build=lambda: tf.CodeGenForCausalLM(
                tf.CodeGenConfig(
                    n_embd=64,
                    n_layer=2,
                    n_head=4,
                    rotary_dim=8,
                    vocab_size=VOCAB,
                    n_positions=128,
                    n_ctx=128,
                )
            ),
        ),
        "gpt_neox": dict(
            kind="causal",
            build=lambda: tf.GPTNeoXForCausalLM(
                tf.GPTNeoXConfig(
                    hidden_size=64,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    intermediate_size=128,
                    rotary_pct=0.25,
                    **small,
                )
            ),
        ),
        "stablelm": dict(
            kind="causal",
            build=lambda: tf.StableLmForCausalLM(
                tf.StableLmConfig(partial_rotary_factor=0.25, **llama_like)
            ),
        ),
        "qwen3": dict(
            kind="causal",
            build=lambda: tf.Qwen3ForCausalLM(tf.Qwen3Config(head_dim=16, **llama_like)),
        ),
        "phi3": dict(
            kind="causal",
            build=lambda: tf.Phi3ForCausalLM(
                tf.Phi3Config(pad_token_id=0, bos_token_id=1, eos_token_id=2, **llama_like)
            ),
        ),
        "gemma2": dict(
            kind="causal",
            build=lambda: tf.Gemma2ForCausalLM(
                tf.Gemma2Config(head_dim=16, sliding_window=8, **llama_like)
            ),
        ),
        "granite": dict(
            kind="causal", build=lambda: tf.GraniteForCausalLM(tf.GraniteConfig(**llama_like))
        ),
        "olmo": dict(kind="causal", build=lambda: tf.OlmoForCausalLM(tf.OlmoConfig(**llama_like))),
        "marian": dict(
            kind="seq2seq",
            build=lambda: tf.MarianMTModel(
                tf.MarianConfig(
                    **bart_like,
                    pad_token_id=0,
                    eos_token_id=2,
                    decoder_start_token_id=0,
                    **small,
                )
            ),
        ),
        "pegasus": dict(
            kind="seq2seq",
            build=lambda: tf.PegasusForConditionalGeneration(
                tf.PegasusConfig(
                    **bart_like,
                    pad_token_id=0,
                    eos_token_id=1,
                    decoder_start_token_id=0,
                    **small,
                )
            ),
        ),
        "hubert": dict(
            kind="audio_values",
            build=lambda: tf.HubertModel(
                tf.HubertConfig(
                    **wav2vec_like,
                )
            ),
            samples=1600,
            opt_shapes=dict(audio_sequence_length=1600),
            table=dict(sequence_length=1600),
        ),
        "beit": dict(
            kind="vision",
            size=32,
            build=lambda: tf.BeitModel(
                vit_like(lambda **kw: tf.BeitConfig(use_relative_position_bias=True, **kw))
            ),
        ),
        # dinov2 always interpolates its position embeddings (bicubic Resize)
        "dinov2": dict(
            kind="vision",
            size=32,
            build=lambda: tf.Dinov2Model(
                tf.Dinov2Config(
                    image_size=32,
                    patch_size=8,
                    hidden_size=64,
                    num_hidden_layers=2,
                    num_attention_heads=4,
                    mlp_ratio=2,
                )
            ),
        ),
        "mobilevit": dict(
            kind="vision",
            size=64,
            build=lambda: tf.MobileViTModel(
                tf.MobileViTConfig(
                    image_size=64,
                    hidden_sizes=[32, 48, 64],
                    neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
                    num_attention_heads=2,
                    patch_size=2,
                    expand_ratio=2.0,
                )
            ),
        ),
        "resnet": dict(
            kind="vision",
            size=64,
            build=lambda: tf.ResNetModel(
                tf.ResNetConfig(
                    embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic"
                )
            ),
        ),
        "segformer": dict(
            kind="vision",
            size=64,
            build=lambda: tf.SegformerModel(
                tf.SegformerConfig(
                    num_encoder_blocks=2,
                    depths=[1, 1],
                    sr_ratios=[2, 1],
                    hidden_sizes=[16, 32],
                    num_attention_heads=[1, 2],
                    patch_sizes=[7, 3],
                    strides=[4, 2],
                    mlp_ratios=[2, 2],
                )
            ),
        ),
    }


def _opt_tasks(spec: dict) -> list[str]:
    if "opt_tasks" in spec:
        return spec["opt_tasks"]
    return {
        "causal": ["text-generation", "text-generation-with-past"],
        "seq2seq": ["text2text-generation", "text2text-generation-with-past"],
    }.get(spec["kind"], ["feature-extraction"])


# ---------------------------------------------------------------- torch.onnx.export


def _torch_case(spec: dict):
    """(module, args, input names, output names, dynamic axes) for the torch exporters."""
    import torch

    class Wrap(torch.nn.Module):
        def __init__(self, m, names, outs, extra):
            super().__init__()
            self.m, self.names, self.outs, self.extra = m, names, outs, extra

        def forward(self, *args):
            o = self.m(**dict(zip(self.names, args, strict=True)), **self.extra)
            return tuple(o[k] for k in self.outs)

    torch.manual_seed(0)
    model = spec["build"]().eval()
    torch.manual_seed(1)
    seq = {0: "batch", 1: "sequence"}
    kind = spec["kind"]
    ids = torch.randint(3, VOCAB, (B, S))
    mask = torch.ones(B, S, dtype=torch.long)
    if kind == "encoder":
        names, args = ["input_ids", "attention_mask"], [ids, mask]
        if spec.get("tt"):
            names.append("token_type_ids")
            args.append(torch.zeros(B, S, dtype=torch.long))
        axes = {n: seq for n in names}
        outs, extra = ["last_hidden_state"], {}
    elif kind == "causal":
        names, args = ["input_ids", "attention_mask"], [ids, mask]
        axes = {n: seq for n in names}
        outs, extra = ["logits"], {"use_cache": False}
    elif kind == "seq2seq":
        dec = torch.randint(3, VOCAB, (B, S))
        names, args = ["input_ids", "attention_mask", "decoder_input_ids"], [ids, mask, dec]
        axes = {"input_ids": seq, "attention_mask": seq}
        axes["decoder_input_ids"] = {0: "batch", 1: "decoder_sequence"}
        outs, extra = ["logits"], {"use_cache": False}
    elif kind == "vision":
        names, args = ["pixel_values"], [torch.randn(B, 3, spec["size"], spec["size"])]
        axes, outs, extra = {"pixel_values": {0: "batch"}}, ["last_hidden_state"], {}
    elif kind == "audio_features":  # whisper: the encoder; its frame count is fixed
        model = model.get_encoder()
        names, args = ["input_features"], [torch.randn(B, spec["mel"], spec["frames"])]
        axes, outs, extra = {"input_features": {0: "batch"}}, ["last_hidden_state"], {}
    elif kind == "audio_values":
        names, args = ["input_values"], [torch.randn(B, spec["samples"])]
        axes, outs, extra = {"input_values": seq}, ["last_hidden_state"], {}
    else:
        raise ValueError(kind)
    return Wrap(model, names, outs, extra), tuple(args), names, outs, axes


def export_torch(spec: dict, dynamo: bool, path: Path, opset: int = 17) -> dict[str, list[int]]:
    """Export; returns the concrete shape of each input (what the manifest binds)."""
    import torch

    module, args, names, outs, axes = _torch_case(spec)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        ctx = contextlib.nullcontext() if dynamo else vmap_free_masks()
        with ctx:
            torch.onnx.export(
                module,
                args,
                str(path),
                input_names=names,
                output_names=outs,
                # dynamo: the same axes as dynamic_shapes (by position: the wrapper takes *args);
                # torch turns each named axis into Dim.DYNAMIC and keeps the name
                dynamic_axes=None if dynamo else axes,
                dynamic_shapes=(tuple(axes.get(n) for n in names),) if dynamo else None,
                opset_version=None if dynamo else opset,
                dynamo=dynamo,
                external_data=False,
            )
    return {n: list(a.shape) for n, a in zip(names, args, strict=True)}


# ---------------------------------------------------------------- optimum


def export_optimum(spec: dict, task: str, tmp: Path) -> list[Path]:
    """onnx_export_from_model into tmp; returns the .onnx files it wrote."""
    import torch
    from optimum.exporters.onnx import onnx_export_from_model

    torch.manual_seed(0)
    model = spec["build"]().eval()
    kw: dict = dict(spec.get("opt_shapes", {}))
    if spec["kind"] == "vision":
        kw.update(width=spec["size"], height=spec["size"])
    if spec.get("clip_text"):  # optimum registers clip-text for diffusers only: pass its config
        from optimum.exporters.onnx.model_configs import CLIPTextOnnxConfig

        kw["custom_onnx_configs"] = {"model": CLIPTextOnnxConfig(model.config, task=task)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx_export_from_model(model, output=str(tmp), task=task, do_validation=False, **kw)
    return sorted(tmp.glob("*.onnx"))


def _copy_onnx(src: Path, dst: Path) -> None:
    """One self-contained file (external data, if any, loaded back in)."""
    onnx.save(onnx.load(str(src), load_external_data=True), str(dst))


# ---------------------------------------------------------------- the manifest


def _table(spec: dict) -> dict[str, int]:
    t = {
        "batch_size": B,
        "batch": B,
        "sequence_length": S,
        "sequence": S,
        "encoder_sequence_length": S,
        "encoder_sequence_length_out": S,
        "decoder_sequence_length": S,
        "past_sequence_length": P,
        "past_decoder_sequence_length": P,
        "total_sequence_length": P + S,
        "num_channels": 3,
    }
    if spec["kind"] == "vision":
        t.update(width=spec["size"], height=spec["size"])
    t.update(spec.get("table", {}))
    return t


def manifest_entry(name: str, path: Path, shapes: dict | None, table: dict) -> dict:
    m = onnx.load(str(path), load_external_data=False)
    dims, whole = binding(m, shapes, table)
    inits = {i.name for i in m.graph.initializer}
    values = {
        vi.name: True
        for vi in m.graph.input
        if vi.name == "use_cache_branch" and vi.name not in inits
    }
    return {
        "name": name,
        "path": f"models/{path.name}",
        "dims": dims,
        "input_shapes": whole,
        "input_values": values,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", default="", help="comma-separated substrings of arch names")
    ap.add_argument("--exporters", default=",".join(EXPORTERS))
    args = ap.parse_args()
    models = args.out / "models"
    models.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else []
    manifest = {e["name"]: e for e in old}
    only = [s for s in args.only.split(",") if s]
    exporters = args.exporters.split(",")
    failures: dict[str, str] = {}
    specs = _specs()

    def save() -> None:
        entries = [manifest[k] for k in sorted(manifest)]
        manifest_path.write_text(json.dumps(entries, indent=1) + "\n")

    for arch, spec in specs.items():
        if only and not any(s in arch for s in only):
            continue
        for tag in exporters:
            t0 = time.time()
            if tag in ("ts17", "dynamo"):
                name = f"{arch}_{tag}"
                path = models / f"{name}.onnx"
                if name in manifest and path.exists():
                    continue
                try:
                    shapes = export_torch(spec, tag == "dynamo", path)
                    manifest[name] = manifest_entry(name, path, shapes, _table(spec))
                except Exception as e:  # an exporter's failure is not ours: note it, go on
                    path.unlink(missing_ok=True)
                    failures[name] = _why(e)
                    print(f"{name}: export failed: {failures[name]}", flush=True)
                    if tag == "ts17" and "added in version 18" in str(e):
                        _ts18(arch, spec, models, manifest)  # sliding-window masks: bitwise_and
                    continue
                print(f"{name}: ok ({time.time() - t0:.0f} s)", flush=True)
                save()
                continue
            if tag != "optimum" or spec.get("optimum") is False:
                continue
            for task in _opt_tasks(spec):
                past = task.endswith("-with-past")
                prefix = f"{arch}_opt{'_past' if past else ''}"
                if any(k.startswith(prefix + "_") for k in manifest):
                    continue
                t0 = time.time()
                try:
                    with tempfile.TemporaryDirectory() as t:
                        made = export_optimum(spec, task, Path(t))
                        if not made:
                            raise RuntimeError("no .onnx written")
                        names = []
                        for src in made:
                            name = f"{prefix}_{src.stem}"
                            dst = models / f"{name}.onnx"
                            _copy_onnx(src, dst)
                            try:
                                manifest[name] = manifest_entry(name, dst, None, _table(spec))
                            except (KeyError, ValueError) as e:  # a dim we have no value for
                                print(f"{name}: left unbound: {e}", flush=True)
                                manifest[name] = {"name": name, "path": f"models/{dst.name}",
                                                  "dims": {}, "input_shapes": {},
                                                  "input_values": {}}  # fmt: skip
                            names.append(name)
                except Exception as e:
                    failures[f"{prefix} ({task})"] = _why(e)
                    print(f"{prefix} ({task}): export failed: {_why(e)}", flush=True)
                    continue
                print(f"{prefix} ({task}): ok {names} ({time.time() - t0:.0f} s)", flush=True)
                save()
    save()
    if failures:
        print(f"\n{len(failures)} export(s) failed:")
        for k, v in failures.items():
            print(f"  {k}: {v}")


def _ts18(arch: str, spec: dict, models: Path, manifest: dict) -> None:
    """TorchScript at opset 18, for a model whose ops opset 17 lacks (mistral, gemma2)."""
    name = f"{arch}_ts18"
    path = models / f"{name}.onnx"
    try:
        shapes = export_torch(spec, False, path, opset=18)
        manifest[name] = manifest_entry(name, path, shapes, _table(spec))
        print(f"{name}: ok", flush=True)
    except Exception as e:
        path.unlink(missing_ok=True)
        print(f"{name}: export failed: {_why(e)}", flush=True)


def _why(e: Exception) -> str:
    while e.__cause__ is not None and "torch.export" in str(e):  # torch.onnx's wrapper
        e = e.__cause__
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    head = f"{type(e).__name__}: {lines[0] if lines else ''}"
    if os.environ.get("HF_ZOO_TRACE"):
        traceback.print_exc()
    return head[:200]


if __name__ == "__main__":
    main()
