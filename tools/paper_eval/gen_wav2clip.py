#!/usr/bin/python3
"""Parity fixture for Wav2CLIP's audio encoder (ResNet-18 on a log spectrogram + MLP projection to CLIP space).

Runs the Wav2CLIP repository's own wav2clip/model/resnet.py and encoder.py (ResNetExtractor, scenario "frozen",
transform=True: the released checkpoint's layout) on Debian's python3-torch with random weights. Usage:
    git --git-dir <mirror of github.com/descriptinc/lyrebird-wav2clip> archive HEAD | tar -x -C /tmp/ref/wav2clip
    /usr/bin/python3 tools/paper_eval/gen_wav2clip.py --wav2clip /tmp/ref/wav2clip --out tests/fixtures/golden/wav2clip_tiny
Stand-ins (Debian packages neither): torchaudio.transforms.Spectrogram(n_fft=512, hop_length=353) is replaced by its
definition in torchaudio (torch.stft, periodic Hann window of 512 as the registered buffer 'window', center=True,
reflect padding, |X|^2), and librosa (only used by the framed mode, not here) by an empty module.
Tiny: every channel count of the ResNet is divided by --divisor (16) by handing resnet.py an nn namespace whose
Conv2d/BatchNorm2d divide their channels (the 1-channel spectrogram input stays 1); the MLP is [512/d]*3.
"""
import argparse
import os
import sys
import types

import torch
import torch.nn as tnn

sys.path.insert(0, os.path.dirname(__file__))
from common import half_round, load_module, ref, save_safetensors, stub_module, write_json  # noqa: E402


class Spectrogram(tnn.Module):
    """torchaudio.transforms.Spectrogram's computation for these arguments (power 2, not normalised)."""

    def __init__(self, n_fft=400, hop_length=None):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, x):
        shape = x.size()
        spec = torch.stft(x.reshape(-1, shape[-1]), self.n_fft, self.hop_length, self.n_fft, self.window,
                          center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
        spec = spec.reshape(shape[:-1] + spec.shape[-2:])
        return spec.abs().pow(2.0)


def build(repo, divisor, units):
    stub_module("torchaudio", transforms=types.SimpleNamespace(Spectrogram=Spectrogram))
    stub_module("librosa")
    pkg = stub_module("wav2clip")
    pkg.__path__ = [os.path.join(repo, "wav2clip")]
    sub = stub_module("wav2clip.model")
    sub.__path__ = [os.path.join(repo, "wav2clip", "model")]
    resnet = load_module("wav2clip.model.resnet", os.path.join(repo, "wav2clip", "model", "resnet.py"))
    if divisor != 1:
        class DConv(tnn.Conv2d):
            def __init__(self, i, o, *a, **k):
                super().__init__(i if i == 1 else i // divisor, o // divisor, *a, **k)

        class DBN(tnn.BatchNorm2d):
            def __init__(self, c, *a, **k):
                super().__init__(c // divisor, *a, **k)

        ns = types.SimpleNamespace(**{k: getattr(tnn, k) for k in dir(tnn) if not k.startswith("_")})
        ns.Conv2d, ns.BatchNorm2d = DConv, DBN
        resnet.nn = ns
    encoder = load_module("wav2clip.model.encoder", os.path.join(repo, "wav2clip", "model", "encoder.py"))
    return encoder


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wav2clip", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--divisor", type=int, default=16)
    ap.add_argument("--commit", default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    units = [512 // a.divisor] * 3
    torch.manual_seed(41)
    encoder = build(a.wav2clip, a.divisor, units)
    sup = encoder.ResNetExtractor(scenario="supervise", mlp_layers_units=units)    # random ResNet
    mlp = encoder.MLPLayers(units=units)
    with torch.no_grad():
        for n, t in sup.encoder.state_dict().items():
            if n.endswith("running_mean"):
                t.copy_(torch.randn_like(t) * 0.1)
            elif n.endswith("running_var"):
                t.copy_(torch.rand_like(t) * 0.5 + 0.75)
            elif n.endswith(".bias"):
                t.copy_(torch.randn_like(t) * 0.1)
    checkpoint = {**{"audio_encoder." + k: v for k, v in sup.encoder.state_dict().items()},
                  **{"audio_transform." + k: v for k, v in mlp.state_dict().items()}}
    model = encoder.ResNetExtractor(checkpoint=checkpoint, scenario="frozen", transform=True, mlp_layers_units=units).eval()
    half_round(model)
    sd = {("audio_encoder." + k): v for k, v in model.encoder.state_dict().items()}
    sd.update({("audio_transform." + k): v for k, v in model.transform.state_dict().items()})
    save_safetensors(os.path.join(a.out, "wav2clip.safetensors"), {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()})

    g = torch.Generator().manual_seed(3)
    t = torch.arange(44100) / 44100.0
    wave = torch.stack([0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.05 * torch.randn(44100, generator=g),
                        0.2 * torch.randn(44100, generator=g)])
    with torch.no_grad():
        out = torch.stack([model(w.unsqueeze(0))[0] for w in wave])   # one clip per call, as evaluation.py embeds them
        spec = model.encoder.spectrogram(wave[:1].unsqueeze(1))
    save_safetensors(os.path.join(a.out, "io.safetensors"), {"waveform": wave, "embedding": out, "debug.power": spec})

    real_enc = build(a.wav2clip, 1, [512] * 3)
    r = real_enc.ResNetExtractor(scenario="supervise")
    keys = {("audio_encoder." + k): list(v.shape) for k, v in r.encoder.state_dict().items()}
    keys.update({("audio_transform." + k): list(v.shape) for k, v in real_enc.MLPLayers().state_dict().items()})
    write_json(os.path.join(a.out, "wav2clip_keys.json"), {"note": "keys the released Wav2CLIP.pt must hold for ResNetExtractor(checkpoint, 'frozen', transform=True)", "keys": keys})

    fixture = {
        "schema": 1, "kind": "wav2clip",
        "description": "Wav2CLIP audio encoder (ResNet-18 on log spectrogram, MLP to CLIP space), channels / %d: waveform -> embedding" % a.divisor,
        "reference": [{"repo": "github.com/descriptinc/lyrebird-wav2clip", "commit": a.commit, "paths": ["wav2clip/model/resnet.py", "wav2clip/model/encoder.py", "wav2clip/__init__.py"]}],
        "compute_dtype": "float32",
        "weights": [{"file": "wav2clip.safetensors", "format": "safetensors", "naming": "wav2clip-checkpoint", "key_prefix": "",
                     "dtype": ["F16"], "tensors": len(sd), "float_elements": int(sum(v.numel() for v in sd.values() if v.is_floating_point()))}],
        "config": {"width_divisor": a.divisor, "n_fft": 512, "hop_length": 353, "mlp_units": units},
        "io": "io.safetensors",
        "assets": [{"file": "wav2clip_keys.json", "role": "real_keys", "format": "json", "description": "real checkpoint keys and shapes"}],
        "cases": [{"name": "embed", "op": "embed", "inputs": {"waveform": ref("waveform", wave)}, "params": {},
                   "outputs": {"embedding": ref("embedding", out)},
                   "debug": {"power": {**ref("debug.power", spec), "computed_slice": {"dim": 0, "start": 0, "stop": 1}}},
                   "tolerance": {"mode": "bound", "rel": 1e-4, "abs_floor": 1.0}}],
        "notes": ["Each waveform row is embedded alone (batch of one): the encoder standardises the log spectrogram with the mean and std of the whole batch.",
                  "Embeddings are not L2-normalised here (evaluation.py normalises them before the cosine)."],
    }
    write_json(os.path.join(a.out, "fixture.json"), fixture)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
