"""muP, the maximal-update parametrization, for the Llama family trained with AdamW.

Width is the scaled dimension; ``m = width / base_width`` (the spec's ``lr.mup_base_width``,
by default the smallest width of the ladder). With muP on, a run of width ``w`` uses, for peak
LR ``η``, weight decay ``λ`` and base init std ``σ = 0.02`` (``initializer_range``):

=========  =======================================  ==========  =======  ==========  =========
group      parameters                               init std    LR       decay       forward
=========  =======================================  ==========  =======  ==========  =========
embedding  ``embed_tokens``                         σ           η        0           —
hidden     q, k, v, o, gate, up, down projections   σ / √m      η / m    λ · m       —
readout    ``lm_head``                              σ           η        λ           logits/m
vector     RMSNorm gains                            1           η        0           —
=========  =======================================  ==========  =======  ==========  =========

- **LR** η/m for hidden matrices: Adam's update has size ~LR per entry, so a matrix with fan-in
  ∝ w changes its output by ~LR·w; η/m keeps that width-invariant (Tensor Programs V, Table 3).
  Embeddings, gains and the readout are "vector-like" (one dimension grows): LR η.
- **Weight decay** λ·m for hidden matrices: AdamW decays by LR·λ per step, so decay × LR =
  (λ·m)(η/m) = η·λ stays width-invariant (the "robust layerwise scaling rules" result);
  otherwise a wider model would effectively decay less. Embeddings and gains are not decayed.
- **Init**: hidden matrices σ/√m (variance ∝ 1/fan-in); embeddings and the readout σ.
- **Output multiplier**: logits are ``lm_head(h) / m`` during training (a forward hook on
  ``lm_head``), so the readout's contribution does not grow with width. Checkpoints fold it
  into the saved weights (``lm_head.weight / m``), so HF and vLLM compute the same logits
  without knowing about muP.
- head_dim is fixed across a ladder (widths grow by adding heads), so the attention scale
  1/√head_dim is already width-invariant (muP's 1/head_dim rule matters only when head_dim grows).

At ``width == base_width`` every rule reduces to the standard parametrization (SP), exactly.
With muP off (``lr.mup: false``): every group uses η, hidden matrices and the readout decay
by λ, init σ everywhere, no multiplier (SP). Depth is not scaled.
"""
from __future__ import annotations

import math
from typing import Any

INIT_STD = 0.02   # build_model's initializer_range: σ at the base width


def multiplier(width: int, base_width: int | None) -> float:
    """``m = width / base_width`` (1 when muP is off)."""
    return width / base_width if base_width else 1.0


def group_of(name: str, ndim: int) -> str:
    """``embedding | hidden | readout | vector`` for a parameter name of the Llama family."""
    if name.startswith("lm_head"):
        return "readout"
    if "embed_tokens" in name:
        return "embedding"
    return "hidden" if ndim >= 2 else "vector"


def rules(width: int, base_width: int | None, weight_decay: float) -> dict[str, dict[str, float]]:
    """Per group: ``lr_mult`` (× peak LR), ``weight_decay``, ``init_std`` and ``output_mult``."""
    m = multiplier(width, base_width)
    mup = base_width is not None
    return {
        "embedding": {"lr_mult": 1.0, "weight_decay": 0.0, "init_std": INIT_STD},
        "hidden": {"lr_mult": 1.0 / m, "weight_decay": weight_decay * m,
                   "init_std": INIT_STD / math.sqrt(m)},
        "readout": {"lr_mult": 1.0, "weight_decay": weight_decay, "init_std": INIT_STD,
                    "output_mult": 1.0 / m if mup else 1.0},
        "vector": {"lr_mult": 1.0, "weight_decay": 0.0, "init_std": 0.0},
    }


def param_groups(model: Any, width: int, base_width: int | None, weight_decay: float) -> list[dict]:
    """AdamW parameter groups (one per group of :func:`rules`, in the table's order, each
    with ``name`` and ``lr_mult``; the trainer sets ``lr = peak · lr_mult`` every step)."""
    r = rules(width, base_width, weight_decay)
    params: dict[str, list] = {g: [] for g in r}
    for name, p in model.named_parameters():
        params[group_of(name, p.ndim)].append(p)
    return [{"params": params[g], "name": g, "lr_mult": r[g]["lr_mult"],
             "weight_decay": r[g]["weight_decay"]} for g in r if params[g]]


def apply(model: Any, width: int, base_width: int | None) -> Any:
    """Make a freshly built model muP: rescale hidden matrices to σ/√m and install the output
    multiplier 1/m on ``lm_head`` (no-op when muP is off or ``m == 1``). Returns the model."""
    import torch

    m = multiplier(width, base_width)
    if base_width is None or m == 1.0:
        return model
    with torch.no_grad():
        for name, p in model.named_parameters():
            if group_of(name, p.ndim) == "hidden":
                p.mul_(1.0 / math.sqrt(m))
    mult = 1.0 / m
    model.lm_head.register_forward_hook(lambda _mod, _inp, out: out * mult)
    model.mup_output_mult = mult
    return model


def export_state(model: Any) -> dict | None:
    """The state dict to save for HF/vLLM: ``lm_head.weight`` with the output multiplier
    folded in (``None`` when the model has no multiplier: save it as it is)."""
    mult = getattr(model, "mup_output_mult", None)
    if mult is None:
        return None
    sd = dict(model.state_dict())
    sd["lm_head.weight"] = sd["lm_head.weight"].detach() * mult
    return sd
