"""The nn.GRU path (the GPU's) under autocast: float32 GRUs under bfloat16, float16 left to
PyTorch (its cuDNN wrapper casts to float16, which needs the GradScaler float16 training has)."""

import pytest
import torch

from skelcmd.encoders import build_encoder
from skelcmd.skeleton import NTU25


@pytest.mark.parametrize("name", ["gru", "bigru"])
@pytest.mark.parametrize(
    ("dtype", "autocast_inside"), [(torch.bfloat16, False), (torch.float16, True), (None, False)]
)
def test_grus_run_outside_bfloat16_autocast(name, dtype, autocast_inside) -> None:
    torch.manual_seed(0)
    encoders = [build_encoder(name, NTU25, 2, 3, hidden=8, num_layers=2) for _ in range(2)]
    seen = []
    for encoder in encoders:
        encoder.fused = False  # the nn.GRU path
        for gru in (m for m in encoder.modules() if isinstance(m, torch.nn.GRU)):
            gru.register_forward_pre_hook(lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
    x = torch.randn(4, 3, 6, 25, 2)
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        feats = type(encoders[0]).encode_together(encoders, [x, x])
    assert seen and set(seen) == {autocast_inside}
    assert all(f.dtype == torch.float32 and torch.isfinite(f).all() for f in feats)
    with torch.no_grad():
        plain = type(encoders[0]).encode_together(encoders, [x, x])
    tol = 1e-2 if autocast_inside else 1e-6  # float32 exactly where autocast was off
    for a, b in zip(feats, plain, strict=True):
        torch.testing.assert_close(a.detach(), b, atol=tol, rtol=tol)
