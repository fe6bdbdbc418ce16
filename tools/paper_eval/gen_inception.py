#!/usr/bin/python3
"""Parity fixture for pytorch-fid's InceptionV3 (FID blocks, 299x299 bilinear resize, pool3 features) and its FID.

Runs pytorch-fid's own inception.py (InceptionV3 with use_fid_inception=True) and fid_score.py on Debian's
python3-torch + python3-torchvision, with random weights (the released pt_inception-2015-12-05 file cannot be
downloaded here). Usage (apt-get install python3-torch python3-torchvision python3-scipy):
    git --git-dir <mirror of github.com/mseitzer/pytorch-fid> archive HEAD | tar -x -C /tmp/ref/pytorch-fid
    /usr/bin/python3 tools/paper_eval/gen_inception.py --fid /tmp/ref/pytorch-fid --out tests/fixtures/golden/inception_fid_tiny
Tiny: every channel count of torchvision's Inception blocks is divided by --divisor (16) by replacing
torchvision.models.inception.BasicConv2d with a subclass that divides its in/out channels (the RGB input stays 3);
the structure, kernels, strides, paddings and pools are the reference's. The weight download is replaced by the
random weights (nothing else of fid_inception_v3 changes).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import half_round, load_module, ref, save_safetensors, write_json  # noqa: E402

BLOCKS = [["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3"], ["Conv2d_3b_1x1", "Conv2d_4a_3x3"],
          ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"],
          ["Mixed_7a", "Mixed_7b", "Mixed_7c"]]


def build(fid_dir, divisor):
    import torchvision.models.inception as tvi
    base = tvi.BasicConv2d if not hasattr(tvi, "_RealBasicConv2d") else tvi._RealBasicConv2d
    tvi._RealBasicConv2d = base

    class DividedBasicConv2d(base):
        def __init__(self, in_channels, out_channels, **kw):
            super().__init__(in_channels if in_channels == 3 else in_channels // divisor, out_channels // divisor, **kw)

    tvi.BasicConv2d = DividedBasicConv2d if divisor != 1 else base
    inc = load_module("pytorch_fid_inception", os.path.join(fid_dir, "src", "pytorch_fid", "inception.py"))
    inc.load_state_dict_from_url = lambda *a, **k: None
    real_load = tvi.Inception3.load_state_dict
    tvi.Inception3.load_state_dict = lambda self, sd, strict=True: None
    try:
        inception = inc.fid_inception_v3()
    finally:
        tvi.Inception3.load_state_dict = real_load
        tvi.BasicConv2d = base
    return inc, inception


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fid", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--divisor", type=int, default=16)
    ap.add_argument("--commit", default=None)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(29)

    inc, inception = build(a.fid, a.divisor)
    with torch.no_grad():
        for name, t in inception.state_dict().items():
            if name.endswith("running_mean"):
                t.copy_(torch.randn_like(t) * 0.1)
            elif name.endswith("running_var"):
                t.copy_(torch.rand_like(t) * 0.5 + 0.75)
            elif name.endswith("bn.weight"):
                t.copy_(torch.rand_like(t) * 0.5 + 0.75)
            elif name.endswith("bn.bias"):
                t.copy_(torch.randn_like(t) * 0.1)
            elif name.endswith("conv.weight"):  # He-scaled so that activations keep their size through 90+ layers
                fan_in = t[0].numel()
                t.copy_(torch.randn_like(t) * (2.0 / fan_in) ** 0.5)
    half_round(inception)
    inception.eval()
    inc.fid_inception_v3 = lambda: inception
    model = inc.InceptionV3([3]).eval()

    sd = {k: v for k, v in inception.state_dict().items() if not k.startswith("fc.")}
    save_safetensors(os.path.join(a.out, "inception.safetensors"), {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()})

    g = torch.Generator().manual_seed(5)
    images_a = torch.rand(6, 3, 40, 56, generator=g)           # in [0, 1], as fid_score's ToTensor gives
    images_b = (torch.rand(6, 3, 40, 56, generator=g) * 0.6 + 0.2)
    with torch.no_grad():
        feat_a = model(images_a)[0].squeeze(3).squeeze(2)
        feat_b = model(images_b)[0].squeeze(3).squeeze(2)
        resized = torch.nn.functional.interpolate(images_a[:1], size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * resized - 1
        block_outs = {}
        for i, block in enumerate(model.blocks):
            x = block(x)
            block_outs[f"block{i}"] = x

    fs = load_module("pytorch_fid_score", os.path.join(a.fid, "src", "pytorch_fid", "fid_score.py")) if False else None
    import importlib
    sys.modules["pytorch_fid"] = type(sys)("pytorch_fid")
    sys.modules["pytorch_fid.inception"] = inc
    fs = load_module("pytorch_fid.fid_score", os.path.join(a.fid, "src", "pytorch_fid", "fid_score.py"))
    act_a, act_b = feat_a.double().numpy(), feat_b.double().numpy()
    mu_a, sig_a = np.mean(act_a, axis=0), np.cov(act_a, rowvar=False)
    mu_b, sig_b = np.mean(act_b, axis=0), np.cov(act_b, rowvar=False)
    fid = fs.calculate_frechet_distance(mu_a, sig_a, mu_b, sig_b)

    io = {"images_a": images_a, "images_b": images_b, "features_a": feat_a, "features_b": feat_b,
          "mu_a": torch.from_numpy(mu_a), "sigma_a": torch.from_numpy(sig_a), "fid": torch.tensor([fid], dtype=torch.float64),
          **{f"debug.{k}": v for k, v in block_outs.items()}}
    save_safetensors(os.path.join(a.out, "io.safetensors"), io)

    _, real = build(a.fid, 1)
    write_json(os.path.join(a.out, "pt_inception_keys.json"),
               {"note": "state_dict() of pytorch-fid's fid_inception_v3() (the pt_inception-2015-12-05-6726825d.pth layout)",
                "keys": {k: list(v.shape) for k, v in real.state_dict().items()}})

    tol = {"mode": "bound", "rel": 1e-4, "abs_floor": 1.0}
    fixture = {
        "schema": 1, "kind": "inception_fid",
        "description": "pytorch-fid InceptionV3 (FID blocks), channels / %d: images in [0,1] -> 299 bilinear -> pool3 features; FID of two sets" % a.divisor,
        "reference": [{"repo": "github.com/mseitzer/pytorch-fid", "commit": a.commit, "paths": ["src/pytorch_fid/inception.py", "src/pytorch_fid/fid_score.py"]},
                      {"repo": "torchvision (Debian python3-torchvision %s)" % __import__("torchvision").__version__, "commit": None, "paths": ["torchvision/models/inception.py"]}],
        "compute_dtype": "float32",
        "weights": [{"file": "inception.safetensors", "format": "safetensors", "naming": "torchvision-inception3", "key_prefix": "",
                     "dtype": ["F16"], "tensors": len(sd), "float_elements": int(sum(v.numel() for v in sd.values() if v.is_floating_point()))}],
        "config": {"width_divisor": a.divisor, "bn_eps": 0.001, "resize": 299},
        "io": "io.safetensors",
        "assets": [{"file": "pt_inception_keys.json", "role": "real_keys", "format": "json", "description": "real FID Inception state-dict keys and shapes"}],
        "cases": [
            {"name": "features_a", "op": "features", "inputs": {"images": ref("images_a", images_a)}, "params": {},
             "outputs": {"features": ref("features_a", feat_a)}, "tolerance": tol,
             "debug": {k: {**ref(f"debug.{k}", v), "computed_slice": {"dim": 0, "start": 0, "stop": 1}} for k, v in block_outs.items()}},
            {"name": "features_b", "op": "features", "inputs": {"images": ref("images_b", images_b)}, "params": {},
             "outputs": {"features": ref("features_b", feat_b)}, "tolerance": tol},
            {"name": "fid", "op": "fid", "inputs": {"features_a": ref("features_a", feat_a), "features_b": ref("features_b", feat_b)}, "params": {},
             "outputs": {"fid": ref("fid", io["fid"]), "mu_a": ref("mu_a", io["mu_a"]), "sigma_a": ref("sigma_a", io["sigma_a"])},
             "tolerance": {"mode": "bound", "rtol": 1e-6, "atol": 1e-9}},
        ],
        "notes": ["Weights: random (He-scaled convs, BatchNorm statistics drawn), rounded to float16; fc (1008 classes) not stored: pool3 never uses it.",
                  "features: InceptionV3([3]) of pytorch-fid: F.interpolate(299, bilinear, align_corners=False), 2x-1, blocks 0-3, pool3 [N, 2048/divisor].",
                  "fid: mean and np.cov(rowvar=False) in float64 of the expected features, then fid_score.calculate_frechet_distance (scipy sqrtm)."],
    }
    write_json(os.path.join(a.out, "fixture.json"), fixture)
    print("wrote", a.out, "fid", fid)


if __name__ == "__main__":
    main()
