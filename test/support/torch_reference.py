"""PyTorch reference of Arditi et al.'s pipeline (andyrdt/refusal_direction) on the learned organism.

  OMP_NUM_THREADS=1 /usr/bin/python3 test/support/torch_reference.py request.json > result.json

The request names the model folder (with weights.pt), the organism's scripts folder (model and
tokenizer code) and the prompt sets exactly as the project split them. The steps follow the
reference code, with its hook placement, on the eager PyTorch model:
- prompt filtering: harmful kept when the refusal score is > 0, harmless when < 0 (run_pipeline.py);
- candidates: difference in means of each block's input (forward pre-hook) at the post-instruction
  positions, accumulated in float64 (generate_directions.py);
- refusal score: log(P + 1e-8) - log(1 - P + 1e-8) at the last position, P summed over the
  refusal tokens (select_direction.py);
- bypass: ablation of r/(|r| + 1e-8) at every block input, attention output and MLP output;
  induce: raw r added at the source block's input (coefficient +1); KL(baseline || ablated) on the
  last position of harmless prompts with 1e-6 smoothing; filters NaN, layer >= int(0.8 L),
  KL > 0.1, induce < 0; lowest bypass wins (select_direction.py);
- completions: greedy, hooks on for every generated token (hook_utils.py), no KV cache.
"""
import json
import math
import os
import sys

import torch


def main():
    req = json.load(open(sys.argv[1]))
    torch.set_num_threads(1)
    sys.path.insert(0, req["scripts"])
    from data import IM_END, PAD, Tokenizer  # noqa: E402
    from model import Decoder, left_pad  # noqa: E402

    cfg = json.load(open(os.path.join(req["model"], "model_config.json")))
    vocab = json.load(open(os.path.join(req["model"], "tokenizer.json")))["model"]["vocab"]
    tok = Tokenizer(sorted(vocab, key=vocab.get))
    model = Decoder(cfg)
    model.load_state_dict(torch.load(os.path.join(req["model"], "weights.pt")))
    model.eval()
    L = cfg["layers"]
    n_pos = 3  # "<|im_end|>", "<|im_start|>", "assistant": the template after the instruction
    refusal_tokens = sorted({tok.encode(t)[0] for t in req["refusal_openings"]})
    hooks = []

    def clear():
        while hooks:
            hooks.pop().remove()

    def ablate(r):
        d = (r / (r.norm() + 1e-8)).float()
        proj = lambda x: x - (x @ d).unsqueeze(-1) * d  # noqa: E731
        for block in model.layers:
            hooks.append(block.register_forward_pre_hook(lambda m, args: (proj(args[0]), *args[1:])))
            hooks.append(block.self_attn.register_forward_hook(lambda m, args, out: (proj(out[0]), out[1])))
            hooks.append(block.mlp.register_forward_hook(lambda m, args, out: proj(out)))

    def add(r, layer, coeff):
        v = (coeff * r).float()
        hooks.append(model.layers[layer].register_forward_pre_hook(lambda m, args: (args[0] + v, *args[1:])))

    @torch.no_grad()
    def last_logits(seqs):
        ids, mask, pos = left_pad(seqs, PAD)
        logits, _ = model(ids, mask, pos)
        return logits[:, -1].double()

    def scores(seqs):
        lp = torch.log_softmax(last_logits(seqs), -1)
        p = lp[:, refusal_tokens].exp().sum(-1)
        return (torch.log(p + 1e-8) - torch.log(1 - p + 1e-8)).tolist()

    def kl(base, other):
        p, q = torch.softmax(base, -1), torch.softmax(other, -1)
        return (p * (torch.log(p + 1e-6) - torch.log(q + 1e-6))).sum(-1).mean().item()

    @torch.no_grad()
    def block_inputs(seqs):
        acts = []
        handles = [b.register_forward_pre_hook(lambda m, args: acts.append(args[0][:, -n_pos:].double())) for b in model.layers]
        last_logits(seqs)
        for h in handles:
            h.remove()
        return torch.stack(acts, 1)  # [batch, layer, pos, hidden]

    sets = {k: [tok.chat(p) for p in req["sets"][k]] for k in ("harmful_train", "harmful_val", "harmless_train", "harmless_val")}
    out = {"token_ids": {k: v for k, v in sets.items()}, "refusal_tokens": refusal_tokens}
    if req.get("filter", True):
        for k in sets:
            s = scores(sets[k])
            sets[k] = [x for x, y in zip(sets[k], s) if (y > 0 if k.startswith("harmful") else y < 0)]
    out["counts"] = {k: len(v) for k, v in sets.items()}

    mean_diff = block_inputs(sets["harmful_train"]).mean(0) - block_inputs(sets["harmless_train"]).mean(0)  # [layer, pos, hidden]
    base_harmless = last_logits(sets["harmless_val"])
    prune_from = int(L * (1 - 0.2))
    candidates = []
    for p in range(n_pos):
        for layer in range(L):
            r = mean_diff[layer, p]
            ablate(r)
            bypass = sum(scores(sets["harmful_val"])) / len(sets["harmful_val"])
            kl_score = kl(base_harmless, last_logits(sets["harmless_val"]))
            clear()
            add(r, layer, 1.0)
            induce = sum(scores(sets["harmless_val"])) / len(sets["harmless_val"])
            clear()
            c = {"position": p - n_pos, "layer": layer, "bypass": bypass, "induce": induce, "kl": kl_score, "norm": r.norm().item()}
            if any(math.isnan(x) for x in (bypass, induce, kl_score)):
                c["filtered"] = "nan"
            elif layer >= prune_from:
                c["filtered"] = "layer"
            elif kl_score > 0.1:
                c["filtered"] = "kl"
            elif induce < 0:
                c["filtered"] = "induce"
            candidates.append(c)
    out["candidates"] = candidates
    kept = [c for c in candidates if "filtered" not in c]
    out["selected"] = min(kept, key=lambda c: c["bypass"]) if kept else None
    # Completions use the selected direction, or the lowest-bypass one when every candidate was filtered.
    chosen = out["selected"] or min(candidates, key=lambda c: c["bypass"])
    out["evaluated"] = chosen
    r = mean_diff[chosen["layer"], chosen["position"] + n_pos]

    @torch.no_grad()
    def greedy(prompt):
        ids, new = tok.chat(prompt), []
        for _ in range(req["max_new_tokens"]):
            x = torch.tensor([ids + new])
            logits, _ = model(x, torch.ones_like(x), torch.arange(x.shape[1]).unsqueeze(0))
            new.append(int(logits[0, -1].argmax()))
            if new[-1] == IM_END:
                break
        return new

    out["completions"] = {}
    for name, coeff in req["eval"].items():
        rows = {c: [] for c in ("baseline", "ablation", "addition")}
        for cond in rows:
            if cond == "ablation":
                ablate(r)
            elif cond == "addition":
                add(r, chosen["layer"], coeff)
            for prompt in req["prompts"][name]:
                ids = greedy(prompt)
                rows[cond].append({"ids": ids, "text": tok.decode(ids)})
            clear()
        out["completions"][name] = rows
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
