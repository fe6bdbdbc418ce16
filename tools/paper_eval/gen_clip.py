#!/usr/bin/python3
"""Parity fixture for CLIP ViT (image + text towers, projections, preprocessing, TorchScript archive reading).

Runs openai/CLIP's own model.py (tiny config, random weights rounded to float16) and clip.py's _transform and
tokenize. Usage (Debian: apt-get install python3-torch python3-torchvision python3-regex):
    git --git-dir <mirror of github.com/openai/CLIP> archive HEAD | tar -x -C /tmp/ref/CLIP
    /usr/bin/python3 tools/paper_eval/gen_clip.py --clip /tmp/ref/CLIP --out tests/fixtures/golden/clip_vit_tiny
ftfy (not packaged in Debian) is replaced by an identity fix_text: the texts tokenized here are plain ASCII, which
ftfy leaves unchanged.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import half_round, load_module, ref, save_safetensors, stub_module, write_json, git_commit  # noqa: E402

TINY = dict(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=128, vision_patch_size=8,
            context_length=77, vocab_size=49408, transformer_width=16, transformer_heads=2, transformer_layers=2)
REAL = {
    "ViT-B-32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
                     context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12),
    "ViT-L-14": dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                     context_length=77, vocab_size=49408, transformer_width=768, transformer_heads=12, transformer_layers=12),
}
LABELS = ["fire crackling", "raining", "thunder", "wind noise", "underwater bubbling"]


def load_clip(clip_dir):
    stub_module("ftfy", fix_text=lambda s: s)
    pkg = stub_module("clip")
    pkg.__path__ = [os.path.join(clip_dir, "clip")]
    model = load_module("clip.model", os.path.join(clip_dir, "clip", "model.py"))
    load_module("clip.simple_tokenizer", os.path.join(clip_dir, "clip", "simple_tokenizer.py"))
    clip = load_module("clip.clip", os.path.join(clip_dir, "clip", "clip.py"))
    return model, clip


def hf_names(sd):
    """openai/CLIP names -> HF CLIPModel names (how the fixture's safetensors copy is stored)."""
    out = {}
    for k, v in sd.items():
        if k in ("input_resolution", "context_length", "vocab_size"):
            continue
        if ".resblocks." in k:
            tower = "vision_model" if k.startswith("visual.") else "text_model"
            rest = k.split(".resblocks.")[1]
            i, name = rest.split(".", 1)
            p = f"{tower}.encoder.layers.{i}."
            if name.startswith("attn.in_proj_"):
                kind = name.rsplit("_", 1)[1]
                for part, n in zip(v.chunk(3, 0), ["q_proj", "k_proj", "v_proj"]):
                    out[f"{p}self_attn.{n}.{kind}"] = part.contiguous()
                continue
            name = (name.replace("attn.out_proj", "self_attn.out_proj").replace("ln_1", "layer_norm1")
                    .replace("ln_2", "layer_norm2").replace("mlp.c_fc", "mlp.fc1").replace("mlp.c_proj", "mlp.fc2"))
            out[p + name] = v
            continue
        m = {"visual.conv1.weight": "vision_model.embeddings.patch_embedding.weight",
             "visual.class_embedding": "vision_model.embeddings.class_embedding",
             "visual.positional_embedding": "vision_model.embeddings.position_embedding.weight",
             "visual.ln_pre.weight": "vision_model.pre_layrnorm.weight", "visual.ln_pre.bias": "vision_model.pre_layrnorm.bias",
             "visual.ln_post.weight": "vision_model.post_layernorm.weight", "visual.ln_post.bias": "vision_model.post_layernorm.bias",
             "token_embedding.weight": "text_model.embeddings.token_embedding.weight",
             "positional_embedding": "text_model.embeddings.position_embedding.weight",
             "ln_final.weight": "text_model.final_layer_norm.weight", "ln_final.bias": "text_model.final_layer_norm.bias",
             "logit_scale": "logit_scale"}
        if k == "visual.proj":
            out["visual_projection.weight"] = v.t().contiguous()
        elif k == "text_projection":
            out["text_projection.weight"] = v.t().contiguous()
        else:
            out[m[k]] = v
    return out


def smooth_image(w, h, seed):
    """A deterministic real-size RGB test picture with gradients and sharp edges (resampling must match on both)."""
    from PIL import Image
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / 37.0 + c) * np.cos(y / 23.0 - c) for c in range(3)], -1)
    img += g.normal(0, 12, img.shape)
    img[h // 3: h // 2, w // 4: w // 2] = [250, 20, 30]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", default=None, help="commit of the CLIP checkout (recorded in fixture.json)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    model_py, clip_py = load_clip(a.clip)
    torch.manual_seed(19)

    m = model_py.CLIP(**TINY).eval()
    with torch.no_grad():
        for p in m.parameters():  # model.py's init leaves biases 0 and LayerNorms 1/0: perturb so that they are checked
            p.add_(torch.randn_like(p) * 0.05)
    half_round(m)
    sd = {k: v for k, v in m.state_dict().items()}
    save_safetensors(os.path.join(a.out, "model.safetensors"), {k: v.half() for k, v in hf_names(sd).items()})

    # the OpenAI release format: a TorchScript archive (traced, float32 copies of the same float16 values)
    pixels = torch.randn(2, 3, TINY["image_resolution"], TINY["image_resolution"])
    traced = torch.jit.trace_module(m, {"encode_image": pixels})
    traced.save(os.path.join(a.out, "model_jit.pt"))

    tok = clip_py.tokenize(LABELS).long()                # [5, 77], zero padded
    rnd = torch.randint(1, 49406, (2, 77))
    rnd[0, 0], rnd[0, 9], rnd[0, 10:] = 49406, 49407, 0
    rnd[1, 0], rnd[1, 76] = 49406, 49407
    ids = torch.cat([tok, rnd], 0)

    with torch.no_grad():
        img_emb = m.encode_image(pixels)
        txt_emb = m.encode_text(ids)
        logits_per_image, _ = m(pixels, ids)

    picture = smooth_image(500, 375, 7)
    picture.save(os.path.join(a.out, "picture_500x375.png"))
    tall = smooth_image(301, 640, 8)
    tall.save(os.path.join(a.out, "picture_301x640.png"))
    pre224 = clip_py._transform(224)(picture)
    pre336 = clip_py._transform(336)(tall)
    pre_tiny = clip_py._transform(TINY["image_resolution"])(picture)
    with torch.no_grad():
        emb_picture = m.encode_image(pre_tiny.unsqueeze(0))

    io = {"pixels": pixels, "ids": ids, "image_embeds": img_emb, "text_embeds": txt_emb, "logits_per_image": logits_per_image,
          "preprocessed_224": pre224, "preprocessed_336": pre336, "preprocessed_tiny": pre_tiny, "picture_image_embeds": emb_picture,
          "label_ids": tok}
    save_safetensors(os.path.join(a.out, "io.safetensors"), io)

    for name, cfg in REAL.items():
        real = model_py.CLIP(**cfg)
        write_json(os.path.join(a.out, f"openai_{name}_keys.json"),
                   {"config": cfg, "note": "state_dict() of openai/CLIP model.CLIP(**config) (as its .pt release holds it)",
                    "keys": {k: list(v.shape) for k, v in real.state_dict().items()}})
        del real

    tol = {"mode": "bound", "atol": 1e-4, "rtol": 1e-4}
    pix_tol = {"mode": "bound", "atol": 1e-5}
    weights_hf = {"file": "model.safetensors", "format": "safetensors", "naming": "hf-clip", "key_prefix": "", "dtype": ["F16"],
                  "tensors": len(hf_names(sd)), "float_elements": int(sum(v.numel() for v in hf_names(sd).values()))}
    weights_jit = {"file": "model_jit.pt", "format": "torchscript", "naming": "openai-clip", "key_prefix": "", "dtype": ["F32"],
                   "tensors": len(sd), "float_elements": int(sum(v.numel() for v in sd.values()))}
    fixture = {
        "schema": 1, "kind": "clip",
        "description": "openai/CLIP ViT (model.py), tiny widths, real vocabulary: pixels -> image embeds, ids -> text embeds; clip.py preprocessing of real-size pictures",
        "reference": [{"repo": "github.com/openai/CLIP", "commit": a.commit or git_commit(a.clip), "paths": ["clip/model.py", "clip/clip.py"]}],
        "compute_dtype": "float32",
        "weights": [weights_hf, weights_jit],
        "config": {**TINY, "vision_heads": TINY["vision_width"] // 64},
        "io": "io.safetensors",
        "assets": [{"file": "picture_500x375.png", "role": "picture", "format": "png", "description": "landscape test picture"},
                   {"file": "picture_301x640.png", "role": "picture", "format": "png", "description": "portrait test picture"},
                   {"file": "openai_ViT-B-32_keys.json", "role": "real_keys", "format": "json", "description": "ViT-B/32 state-dict keys and shapes"},
                   {"file": "openai_ViT-L-14_keys.json", "role": "real_keys", "format": "json", "description": "ViT-L/14 state-dict keys and shapes"}],
        "cases": [
            {"name": "encode_image", "op": "encode_image", "inputs": {"pixels": ref("pixels", pixels)}, "params": {},
             "outputs": {"image_embeds": ref("image_embeds", img_emb)}, "tolerance": tol},
            {"name": "encode_text", "op": "encode_text", "inputs": {"input_ids": ref("ids", ids)}, "params": {},
             "outputs": {"text_embeds": ref("text_embeds", txt_emb)}, "tolerance": tol},
            {"name": "logits", "op": "logits", "inputs": {"pixels": ref("pixels", pixels), "input_ids": ref("ids", ids)}, "params": {},
             "outputs": {"logits_per_image": ref("logits_per_image", logits_per_image)}, "tolerance": {"mode": "bound", "atol": 1e-3, "rtol": 1e-4}},
            {"name": "tokenize_labels", "op": "tokenize", "inputs": {"texts": {"json": LABELS}}, "params": {"context_length": 77},
             "outputs": {"ids": ref("label_ids", tok)}, "tolerance": {"mode": "exact"}},
            {"name": "preprocess_224", "op": "preprocess", "inputs": {"image": {"asset": "picture_500x375.png"}}, "params": {"n_px": 224},
             "outputs": {"pixels": ref("preprocessed_224", pre224)}, "tolerance": pix_tol},
            {"name": "preprocess_336_portrait", "op": "preprocess", "inputs": {"image": {"asset": "picture_301x640.png"}}, "params": {"n_px": 336},
             "outputs": {"pixels": ref("preprocessed_336", pre336)}, "tolerance": pix_tol},
            {"name": "preprocess_tiny", "op": "preprocess", "inputs": {"image": {"asset": "picture_500x375.png"}}, "params": {"n_px": TINY["image_resolution"]},
             "outputs": {"pixels": ref("preprocessed_tiny", pre_tiny)}, "tolerance": pix_tol},
            {"name": "picture_embeds", "op": "embed_picture", "inputs": {"image": {"asset": "picture_500x375.png"}}, "params": {},
             "outputs": {"image_embeds": ref("picture_image_embeds", emb_picture)}, "tolerance": tol},
        ],
        "notes": [
            "model_jit.pt holds the values of model.safetensors in openai/CLIP names (no same_as: the names differ; ClipParityTests converts and compares them bit for bit).",
            "Weights: model.py's random init plus N(0, 0.05) on every parameter (so biases and LayerNorms are exercised), rounded to float16; model_jit.pt is torch.jit.trace_module of the same model (float32 copies of those values), the release format of OpenAI's .pt files.",
            "Expected outputs: one float32 run of model.py on the CPU.",
            "preprocess: clip.py _transform(n_px) on the PNG (PIL bicubic resize of the shorter side, centre crop, ToTensor, CLIP mean/std).",
            "tokenize: clip.tokenize (zero padding to 77); ftfy replaced by identity (ASCII labels).",
            "vision heads = vision_width // 64 as in model.py; text heads given (transformer_heads).",
        ],
    }
    write_json(os.path.join(a.out, "fixture.json"), fixture)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
