"""The optimisers on the pixels: the engine's own L-BFGS (no device waits inside a step) and Adam."""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["LBFGS", "LBFGS_HISTORY", "make_optimizer"]

LBFGS_HISTORY = 16  # 2 × 16 image-sized vectors: ~100 MB at 512 px, enough curvature for this problem
ADAM_LR = 0.02


def make_optimizer(name: str, x: torch.Tensor, history: int = LBFGS_HISTORY) -> "LBFGS | torch.optim.Optimizer":
    """A fresh optimiser for the pixels ``x``; L-BFGS keeps ``history`` curvature pairs."""
    if name == "lbfgs":
        return LBFGS(x, history)
    return torch.optim.Adam([x], lr=ADAM_LR)


class LBFGS:
    """torch's ``LBFGS(lr=1, max_iter=1)`` steps with no host-device waits inside one."""

    def __init__(self, x: torch.Tensor, history_size: int = LBFGS_HISTORY, lr: float = 1.0):
        self.x = x
        self.history_size = history_size
        self.lr = lr
        self.steps: list[torch.Tensor] = []      # s_k = x_{k+1} - x_k
        self.grad_diffs: list[torch.Tensor] = []  # y_k = g_{k+1} - g_k
        self.rho: list[torch.Tensor] = []        # 1 / (y_k · s_k), or 0 for a pair without curvature
        self.h_diag: torch.Tensor | float = 1.0  # scale of the initial inverse Hessian
        self.prev_grad: torch.Tensor | None = None
        self.direction: torch.Tensor | None = None
        self.t: torch.Tensor | float = lr

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        grad = self.x.grad.reshape(-1)
        if self.prev_grad is None:
            direction = grad.neg()
            self.t = torch.clamp(1.0 / grad.abs().sum(), max=1.0) * self.lr  # a cautious first step
        else:
            self._remember(grad.sub(self.prev_grad), self.direction.mul(self.t))
            direction = self._two_loop(grad)
            self.t = self.lr
        self.prev_grad = grad  # zero_grad() drops x.grad, so the next backward writes a new tensor
        self.direction = direction
        self.x.add_(direction.view_as(self.x) * self.t)
        return loss

    def _remember(self, y: torch.Tensor, s: torch.Tensor) -> None:
        ys = y.dot(s)
        curved = ys > 1e-10
        if len(self.steps) == self.history_size:
            del self.steps[0], self.grad_diffs[0], self.rho[0]
        self.steps.append(s)
        self.grad_diffs.append(y)
        self.rho.append(torch.where(curved, 1.0 / ys, torch.zeros_like(ys)))
        self.h_diag = torch.where(curved, ys / y.dot(y), torch.as_tensor(self.h_diag, device=ys.device))

    def _two_loop(self, grad: torch.Tensor) -> torch.Tensor:
        """-H·grad by the two-loop recursion, every scalar kept on the device."""
        q = grad.neg()
        alphas = []
        for s, y, rho in zip(reversed(self.steps), reversed(self.grad_diffs), reversed(self.rho)):
            alpha = rho * s.dot(q)
            q.addcmul_(y, alpha, value=-1)
            alphas.append(alpha)
        r = q.mul_(self.h_diag)
        for s, y, rho, alpha in zip(self.steps, self.grad_diffs, self.rho, reversed(alphas)):
            beta = rho * y.dot(r)
            r.addcmul_(s, alpha - beta)
        return r

