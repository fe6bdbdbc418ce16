#!/usr/bin/python3
"""End-to-end fixture of the paper protocol (AIS, IIS, AIC, FID) on the tiny models of the clip_vit_tiny,
wav2clip_tiny and inception_fid_tiny fixtures (run those generators first).

The scores follow the official SonicDiffusion evaluation.py (github.com/BurakCanBiner/SonicDiffusion): audio list
sorted, images sorted (paths with "inversion" and names starting with "source" dropped), image k paired with audio k;
librosa.load(sr=44100) (here: the 16-bit WAV read as int16 / 32768, which is what librosa returns for a 44.1 kHz
PCM file), ConstantPad1d to 442763 samples, one embed_audio call for all clips; embeddings L2-normalised;
einsum similarities; per image the fraction of reference rows with pair > random; means; AIC = argmax over the sorted
unique labels' text embeddings (clip.tokenize(label), no template). FID: pytorch-fid statistics and
calculate_frechet_distance of generated vs dataset images. The loops below are written after those lines.
Usage: /usr/bin/python3 tools/paper_eval/gen_paper_eval.py --clip /tmp/ref/CLIP --wav2clip /tmp/ref/wav2clip \
           --fid /tmp/ref/pytorch-fid --golden tests/fixtures/golden --out tests/fixtures/golden/paper_eval_tiny
"""
import argparse
import json
import os
import sys
import wave

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import load_safetensors, save_safetensors, write_json  # noqa: E402
import gen_clip  # noqa: E402
import gen_inception  # noqa: E402
import gen_wav2clip  # noqa: E402

LABELS = ["raining", "thunder", "fire crackling", "raining"]


def write_wav(path, samples, rate=44100):
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def read_wav(path):
    with wave.open(path, "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", required=True)
    ap.add_argument("--wav2clip", required=True)
    ap.add_argument("--fid", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    from PIL import Image
    out = a.out
    for d in ["audio", "images", "generated", "generated/inversion"]:
        os.makedirs(os.path.join(out, d), exist_ok=True)
    rng = np.random.default_rng(11)

    # data: 4 rows, manifest order != sorted audio order
    names = ["d_rain", "b_thunder", "c_fire", "a_rain2"]
    rows = []
    for i, n in enumerate(names):
        t = np.arange(int(44100 * (0.3 + 0.1 * i))) / 44100
        write_wav(os.path.join(out, "audio", n + ".wav"), 0.4 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.05 * rng.standard_normal(t.shape))
        img = (rng.random((36, 48, 3)) * 255).astype(np.uint8)
        img[: 10 + 5 * i] = [40 * i, 200 - 30 * i, 90]
        Image.fromarray(img).save(os.path.join(out, "images", n + ".png"))
        rows.append({"audio": f"audio/{n}.wav", "image": f"images/{n}.png", "caption": LABELS[i], "label": LABELS[i], "split": "test"})
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    for k in range(4):
        img = (rng.random((52, 40, 3)) * 255).astype(np.uint8)
        img[:, : 8 * k + 4] = [250 - 50 * k, 30 * k, 120]
        Image.fromarray(img).save(os.path.join(out, "generated", f"gen_{k:02d}.png"))
    Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(os.path.join(out, "generated", "source_photo.png"))
    Image.fromarray((rng.random((20, 20, 3)) * 255).astype(np.uint8)).save(os.path.join(out, "generated", "inversion", "x.png"))

    # models: the tiny fixtures' weights in the reference code
    model_py, clip_py = gen_clip.load_clip(a.clip)
    clip = model_py.CLIP(**gen_clip.TINY).eval()
    jit = torch.jit.load(os.path.join(a.golden, "clip_vit_tiny", "model_jit.pt"))
    clip.load_state_dict({k: v for k, v in jit.state_dict().items() if k in clip.state_dict()})
    preprocess = clip_py._transform(gen_clip.TINY["image_resolution"])
    enc = gen_wav2clip.build(a.wav2clip, 16, [32] * 3)
    w2c = enc.ResNetExtractor(scenario="supervise", mlp_layers_units=[32] * 3)
    w2c_sd = load_safetensors(os.path.join(a.golden, "wav2clip_tiny", "wav2clip.safetensors"))
    w2c = enc.ResNetExtractor(checkpoint={k: v.float() if v.is_floating_point() else v for k, v in w2c_sd.items()},
                              scenario="frozen", transform=True, mlp_layers_units=[32] * 3).eval()
    inc, inception = gen_inception.build(a.fid, 16)
    inception.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_safetensors(os.path.join(a.golden, "inception_fid_tiny", "inception.safetensors")).items()}, strict=False)
    inception.eval()
    inc.fid_inception_v3 = lambda: inception
    fid_model = inc.InceptionV3([3]).eval()

    # the official pairing
    audio_list = sorted(os.path.join(out, r["audio"]) for r in rows)
    by_audio = {os.path.join(out, r["audio"]): r for r in rows}
    import glob
    edit_paths = sorted(glob.glob(os.path.join(out, "generated", "**", "*.png"), recursive=True))
    edit_paths = [p for p in edit_paths if "inversion" not in p and not os.path.basename(p).startswith("source")]
    dataset_images = [os.path.join(out, by_audio[p]["image"]) for p in audio_list]
    label_texts = sorted(set(r["label"] for r in rows))

    with torch.no_grad():
        tracks = [read_wav(p) for p in audio_list]
        audio = torch.stack([torch.nn.ConstantPad1d((0, 442763 - t.shape[0]), 0)(torch.from_numpy(t).reshape(1, -1)) for t in tracks])
        aud = w2c(audio.squeeze(1))
        aud = aud / aud.norm(dim=-1, keepdim=True)

        def img_emb(paths):
            e = torch.cat([clip.encode_image(preprocess(Image.open(p)).unsqueeze(0)).float() for p in paths])
            return e / e.norm(dim=-1, keepdim=True)
        gen_b, gen_l, data_l = img_emb(edit_paths), img_emb(edit_paths), img_emb(dataset_images)
        txt = torch.cat([clip.encode_text(clip_py.tokenize([l]).long()) for l in label_texts]).float()
        txt = txt / txt.norm(dim=-1, keepdim=True)

        g = torch.Generator().manual_seed(13)
        ref_audio = torch.randn(7, aud.shape[1], generator=g)
        ref_audio = ref_audio / ref_audio.norm(dim=-1, keepdim=True)
        ref_images = torch.randn(7, data_l.shape[1], generator=g)
        ref_images = ref_images / ref_images.norm(dim=-1, keepdim=True)
        # make the ranking non-trivial: some references near each pair
        ref_audio[:4] = (gen_b + 0.3 * torch.randn(gen_b.shape, generator=g))
        ref_audio[:4] /= ref_audio[:4].norm(dim=-1, keepdim=True)
        ref_images[:4] = (data_l + 0.5 * torch.randn(data_l.shape, generator=g))
        ref_images[:4] /= ref_images[:4].norm(dim=-1, keepdim=True)

        def ranking(query, paired, refs):
            s = torch.einsum("ij,kj->ik", query, paired).numpy()
            pair = [s[i][i] for i in range(len(query))]
            rnd = torch.einsum("ij,kj->ik", query, refs).numpy()
            scores = []
            for i in range(len(query)):
                res = [1 if pair[i] > rnd[i][r] else 0 for r in range(refs.shape[0])]
                scores.append(sum(res) / len(res))
            return scores
        ais = ranking(gen_b, aud, ref_audio)
        iis = ranking(gen_l, data_l, ref_images)
        pred = np.argmax(torch.einsum("ij,kj->ik", gen_l, txt).numpy(), axis=1)
        truth = [label_texts.index(by_audio[p]["label"]) for p in audio_list]
        aic = sum(1.0 for i in range(len(pred)) if pred[i] == truth[i]) / len(pred)

        import torchvision.transforms.functional as TF

        def feats(paths):
            return torch.cat([fid_model(TF.to_tensor(Image.open(p).convert("RGB")).unsqueeze(0))[0].squeeze(3).squeeze(2) for p in paths]).double().numpy()
        fa, fb = feats(edit_paths), feats(dataset_images)
        sys.modules["pytorch_fid"] = type(sys)("pytorch_fid")
        sys.modules["pytorch_fid.inception"] = inc
        from common import load_module
        fs = load_module("pytorch_fid.fid_score", os.path.join(a.fid, "src", "pytorch_fid", "fid_score.py"))
        fid = fs.calculate_frechet_distance(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))

    save_safetensors(os.path.join(out, "refs.safetensors"), {"audio": ref_audio, "images": ref_images})
    io = {"ais": torch.tensor(ais, dtype=torch.float64), "iis": torch.tensor(iis, dtype=torch.float64),
          "predicted": torch.tensor(pred, dtype=torch.int64), "audio_embeds": aud, "means": torch.tensor([sum(ais) / 4, sum(iis) / 4, aic, fid], dtype=torch.float64)}
    save_safetensors(os.path.join(out, "io.safetensors"), io)
    r = lambda n: {"tensor": n, "dtype": {torch.float64: "F64", torch.int64: "I64", torch.float32: "F32"}[io[n].dtype], "shape": list(io[n].shape)}
    fixture = {
        "schema": 1, "kind": "paper_eval",
        "description": "paper protocol end to end on tiny models: manifest + generated folder -> per-image AIS, IIS, AIC prediction; means and FID",
        "reference": [{"repo": "github.com/BurakCanBiner/SonicDiffusion", "commit": "36be6188bcf88b482c66e47285bb30296b6e7463", "paths": ["evaluation.py"]}],
        "compute_dtype": "float32", "weights": [],
        "config": {"clip": "../clip_vit_tiny", "wav2clip": "../wav2clip_tiny/wav2clip.safetensors", "inception": "../inception_fid_tiny/inception.safetensors",
                   "manifest": "manifest.jsonl", "images": "generated", "refs": "refs.safetensors", "classes": label_texts},
        "io": "io.safetensors",
        "cases": [{"name": "scores", "op": "paper_scores", "inputs": {}, "params": {},
                   "outputs": {"ais": r("ais"), "iis": r("iis"), "predicted": r("predicted"), "audio_embeds": r("audio_embeds"), "means": r("means")},
                   "tolerance": {"mode": "bound", "atol": 1e-5, "rtol": 1e-4},
                   "notes": "ais/iis are fractions of 7 references: a mismatch is a whole step of 1/7; means = [AIS, IIS, AIC, FID]"}],
        "notes": ["The same tiny CLIP serves as ViT-B/32 and ViT-L/14; its heads come from clip_vit_tiny's config (text width 16 has no width/64 heads).",
                  "refs.safetensors: random unit vectors, the first four near the pairs so that the ranks are not all 0 or 1."],
    }
    write_json(os.path.join(out, "fixture.json"), fixture)
    print("wrote", out, "AIS", sum(ais) / 4, "IIS", sum(iis) / 4, "AIC", aic, "FID", fid)


if __name__ == "__main__":
    main()
