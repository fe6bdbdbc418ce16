"""Shared helpers of the paper-evaluation fixture generators (safetensors writer, module loading)."""
import importlib.util
import json
import os
import sys
import types

import torch


def load_module(name, path):
    """Imports one reference source file by path (without running its package's __init__)."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def stub_module(name, **attrs):
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


_DT = {torch.float32: "F32", torch.float16: "F16", torch.float64: "F64", torch.int64: "I64", torch.uint8: "U8"}


def save_safetensors(path, tensors):
    """Standard safetensors layout, keys sorted, header padded to 8 bytes."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        t = tensors[k].detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[k] = {"dtype": _DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)


def ref(name, t, file=None):
    r = {"tensor": name, "dtype": _DT[t.dtype], "shape": list(t.shape)}
    if file:
        r["file"] = file
    return r


def half_round(module):
    """Rounds every float parameter/buffer to float16 and back (the stored weights are F16; outputs use those values)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def git_commit(repo):
    try:
        import subprocess
        return subprocess.check_output(["git", "--git-dir", os.path.join(repo, ".git") if os.path.isdir(os.path.join(repo, ".git")) else repo, "rev-parse", "HEAD"], text=True).strip()
    except Exception:
        return None


def load_safetensors(path):
    import numpy as np
    dt = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "U8": np.uint8}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        b, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[b:e], dtype=dt[v["dtype"]]).reshape(v["shape"]).copy())
    return out
