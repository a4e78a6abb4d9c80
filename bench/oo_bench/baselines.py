"""The reference policies oO-bench runs beside oO's: uniform, numpy LinUCB, Vowpal Wabbit SquareCB.

Each takes the same (candidates × d) feature matrices as oO's policy, so only the learner differs.
"""

from __future__ import annotations

import numpy as np


class Uniform:
    name = "uniform"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def select(self, x: np.ndarray) -> int:
        return int(self.rng.integers(len(x)))

    def update(self, x: np.ndarray, reward: float) -> None:
        pass


class LinUCB:
    """Shared-feature LinUCB with a Sherman–Morrison inverse (the reference's hand-written numpy one)."""

    def __init__(self, dimension: int, alpha: float = 0.5, ridge: float = 1.0) -> None:
        self.name = f"numpy LinUCB alpha={alpha} ridge={ridge}"
        self.alpha = alpha
        self.inverse = np.eye(dimension) / ridge
        self.b = np.zeros(dimension)

    def select(self, x: np.ndarray) -> int:
        theta = self.inverse @ self.b
        width = np.sqrt(np.einsum("ij,jk,ik->i", x, self.inverse, x))
        return int(np.argmax(x @ theta + self.alpha * width))

    def select_or_silence(self, x: np.ndarray, cost: float) -> int | None:
        theta = self.inverse @ self.b
        width = np.sqrt(np.einsum("ij,jk,ik->i", x, self.inverse, x))
        values = x @ theta + self.alpha * width - cost
        best = int(np.argmax(values))
        return best if values[best] > 0 else None

    def update(self, x: np.ndarray, reward: float) -> None:
        shrink = self.inverse @ x
        self.inverse -= np.outer(shrink, shrink) / (1.0 + x @ shrink)
        self.b += reward * x


class VowpalSquareCB:
    """VW `--cb_explore_adf --squarecb`, fed one action line per candidate (costs = 1 − reward)."""

    def __init__(self, extra: str = "", seed: int = 0) -> None:
        from vowpalwabbit import Workspace

        self.name = f"VW squarecb{(' ' + extra) if extra else ''}"
        self.vw = Workspace(f"--cb_explore_adf --squarecb --quiet --random_seed {seed} {extra}".strip())
        self.rng = np.random.default_rng(seed)
        self._last: tuple[list[str], int, float] | None = None

    @staticmethod
    def _lines(x: np.ndarray) -> list[str]:
        return ["|a " + " ".join(f"f{j}:{v:.4f}" for j, v in enumerate(row) if v) for row in x]

    def select(self, x: np.ndarray) -> int:
        return self.select_lines(self._lines(x))

    def select_lines(self, lines: list[str]) -> int:
        probabilities = np.clip(np.asarray(self.vw.predict(lines), dtype=float), 0.0, None)  # float32 rounding
        probabilities /= probabilities.sum()
        choice = int(self.rng.choice(len(lines), p=probabilities))
        self._last = (lines, choice, float(probabilities[choice]))
        return choice

    def update(self, x: np.ndarray, reward: float) -> None:
        self.learn_cost(1.0 - reward)

    def learn_cost(self, cost: float) -> None:
        assert self._last is not None
        lines, choice, probability = self._last
        # ADF label "0:cost:probability" on the chosen action's line only.
        self.vw.learn([f"0:{cost}:{probability} {line}" if i == choice else line for i, line in enumerate(lines)])
