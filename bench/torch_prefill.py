# PyTorch eager reference for `npm run bench`: the same random weights (read from the fp32 model's
# ONNX external data, no copy of the model), a Qwen2 forward written the way Hugging Face's eager
# implementation computes it (nn.Linear layout, rotate-half RoPE, repeated KV heads, causal
# softmax attention, SwiGLU, tied lm_head), timed as median of runs after a warm-up.
# Usage: python3 torch_prefill.py <manifest.json>; prints one JSON line.
import json, os, sys, time

import numpy as np
import torch

m = json.load(open(sys.argv[1]))
cfg = m["config"]
torch.set_num_threads(os.cpu_count())
data = np.memmap(m["data"], dtype=np.uint8, mode="r")


def weight(name, transpose=False):
    t = m["tensors"][name]
    a = np.frombuffer(data, dtype=np.float32, count=t["length"] // 4, offset=t["offset"]).reshape(t["dims"])
    w = torch.from_numpy(a.copy())
    # ONNX MatMul weights are [in, out]; nn.Linear keeps [out, in] and computes x @ Wᵀ.
    return w.t().contiguous() if transpose else w


L, H, nh, nkv, hd = cfg["layers"], cfg["hidden"], cfg["heads"], cfg["kvHeads"], cfg["headDim"]
embed = weight("model.embed_tokens.weight")
layers = []
for l in range(L):
    p = f"model.layers.{l}."
    layers.append({k: weight(p + n, transpose=n.endswith("proj.weight")) for k, n in [
        ("in_norm", "input_layernorm.weight"), ("post_norm", "post_attention_layernorm.weight"),
        ("q", "self_attn.q_proj.weight"), ("k", "self_attn.k_proj.weight"), ("v", "self_attn.v_proj.weight"),
        ("qb", "self_attn.q_proj.weight.bias"), ("kb", "self_attn.k_proj.weight.bias"), ("vb", "self_attn.v_proj.weight.bias"),
        ("o", "self_attn.o_proj.weight"), ("gate", "mlp.gate_proj.weight"), ("up", "mlp.up_proj.weight"), ("down", "mlp.down_proj.weight")]})
final_norm = weight("model.norm.weight")
F = torch.nn.functional


def rms(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + cfg["rmsEps"]))


def rotate_half(x):
    return torch.cat((-x[..., hd // 2:], x[..., : hd // 2]), dim=-1)


@torch.inference_mode()
def prefill(ids):
    s = ids.shape[1]
    inv = cfg["ropeTheta"] ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    freqs = torch.outer(torch.arange(s, dtype=torch.float32), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((s, s), float("-inf")).triu(1)
    x = F.embedding(ids, embed)
    hidden = [x]  # output_hidden_states, as researchers read the residual stream in PyTorch
    for w in layers:
        h = rms(x, w["in_norm"])
        q = F.linear(h, w["q"], w["qb"]).view(1, s, nh, hd).transpose(1, 2)
        k = F.linear(h, w["k"], w["kb"]).view(1, s, nkv, hd).transpose(1, 2)
        v = F.linear(h, w["v"], w["vb"]).view(1, s, nkv, hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(nh // nkv, dim=1), v.repeat_interleave(nh // nkv, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / hd**0.5 + mask, dim=-1)
        x = x + F.linear((att @ v).transpose(1, 2).reshape(1, s, nh * hd), w["o"])
        h = rms(x, w["post_norm"])
        x = x + F.linear(F.silu(F.linear(h, w["gate"])) * F.linear(h, w["up"]), w["down"])
        hidden.append(x)
    return F.linear(rms(x, final_norm), embed), hidden


ids = torch.tensor([m["ids"]], dtype=torch.long)
logits, _ = prefill(ids)
times = []
for _ in range(m["runs"]):
    t = time.perf_counter()
    prefill(ids)
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": sorted(times)[len(times) // 2],
                  "lastLogits": logits[0, -1, :16].tolist(), "argmax": int(logits[0, -1].argmax())}))
