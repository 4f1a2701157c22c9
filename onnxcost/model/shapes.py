"""What the shape engine hands on: every tensor's type and shape, per scope, and the gaps."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from onnxcost.rules.registry import TensorInfo

# A subgraph is addressed by the path of (node index in its graph, attribute name) from the top.
Scope = tuple[tuple[int, str], ...]
TOP: Scope = ()


@dataclass
class Failure:
    """A node whose outputs the engine could not work out, and why."""

    scope: Scope
    node: str
    op_type: str
    tensor: str
    reason: str


@dataclass
class Shapes:
    """What the engine knows of every tensor, per scope."""

    scopes: dict[Scope, dict[str, TensorInfo]]
    values: dict[Scope, dict[str, np.ndarray]]
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Scalars whose value is a dim expression (a trip count from Shape -> Gather): its text
    dim_values: dict[Scope, dict[str, str]] = field(default_factory=dict)

    def infos(self, scope: Scope = TOP) -> Mapping[str, TensorInfo]:
        """Names visible in `scope`: its own, then each enclosing scope's."""
        if not scope:
            return self.scopes.get(TOP, {})
        return _Chain([self.scopes.get(scope[:k], {}) for k in range(len(scope), -1, -1)])

    def every_scope(self) -> dict[str, TensorInfo]:
        """Tensors of every subgraph, by name (the innermost wins where branches reuse one)."""
        out: dict[str, TensorInfo] = {}
        for scope in sorted(self.scopes, key=len):
            if scope:
                out.update(self.scopes[scope])
        return out

    def dim_value(self, scope: Scope, name: str) -> str | None:
        for k in range(len(scope), -1, -1):
            v = self.dim_values.get(scope[:k], {}).get(name)
            if v is not None:
                return v
        return None

    def value(self, scope: Scope, name: str) -> np.ndarray | None:
        for k in range(len(scope), -1, -1):
            v = self.values.get(scope[:k], {}).get(name)
            if v is not None:
                return v
        return None


class _Chain(Mapping[str, TensorInfo]):
    def __init__(self, maps: list[dict[str, TensorInfo]]) -> None:
        self._maps = maps

    def __getitem__(self, key: str) -> TensorInfo:
        for m in self._maps:
            if key in m:
                return m[key]
        raise KeyError(key)

    def get(self, key: str, default: TensorInfo | None = None) -> TensorInfo | None:  # type: ignore[override]
        for m in self._maps:
            t = m.get(key)
            if t is not None:
                return t
        return default

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for m in self._maps:
            for k in m:
                if k not in seen:
                    seen.add(k)
                    yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)
