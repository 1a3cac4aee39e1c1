"""The one :class:`Registry` behind every extensible kind of scalelab.

Law forms, data sources, tasks, verifiers, reward models, engines and strategies are all
``Registry`` objects: a name → object mapping that imports its built-in modules on first use,
registers with the same decorator shape and fails with the same one-line error::

    STRATEGIES = Registry("strategy", EvaluatorError, builtin=("evaluators.strategies.sampling",))
    register_strategy = STRATEGIES.register

    @register_strategy("majority")
    class Majority: ...

    STRATEGIES.get("majoritee")   # EvaluatorError: unknown strategy 'majoritee'; known: majority

It lives in :mod:`laws` because ``laws`` is the package every other one may import (``laws``
itself imports nothing of scalelab); it has no dependency beyond the standard library.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Iterator, Sequence


class Registry:
    """A named collection of registered objects (classes, factories or instances).

    Args:
        kind: what one entry is, in words (``"strategy"``, ``"law form"``); used in errors.
        error: the exception class raised for an unknown name (the owning package's root).
        builtin: modules that register the built-in entries; imported on first lookup.
        instantiate: store ``obj()`` instead of ``obj`` (law forms are kept as instances).
        stamp: attribute set to the registered name on the object (e.g. ``"name"``).
    """

    def __init__(self, kind: str, error: type[Exception], builtin: Sequence[str] = (), *,
                 instantiate: bool = False, stamp: str | None = None):
        self.kind, self.error = kind, error
        self._builtin = tuple(builtin)
        self._loaded = not self._builtin
        self.instantiate, self.stamp = instantiate, stamp
        self._entries: dict[str, Any] = {}

    # ------------------------------------------------------------------ registration
    def register(self, name: str | Callable | None = None) -> Callable:
        """Decorator adding an object under ``name``: ``@reg.register("x")``.

        ``@reg.register`` without a name (or ``reg.register(obj)``) uses ``obj.name``.
        """
        if callable(name) and not isinstance(name, str):
            return self._add(getattr(name, "name", None), name)

        def deco(obj: Any) -> Any:
            return self._add(name if name is not None else getattr(obj, "name", None), obj)

        return deco

    def _add(self, name: str | None, obj: Any) -> Any:
        if not isinstance(name, str) or not name:
            raise self.error(f"{self.kind}: cannot register {obj!r} without a name")
        if self.stamp:
            setattr(obj, self.stamp, name)
        self._entries[name] = obj() if self.instantiate else obj
        return obj

    # ------------------------------------------------------------------ lookup
    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for mod in self._builtin:
                importlib.import_module(mod)

    def unknown(self, name: Any) -> Exception:
        """The error for a name that is not registered (one line listing the known names)."""
        return self.error(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")

    def get(self, name: Any) -> Any:
        """The entry registered as ``name``; an unknown name raises :meth:`unknown`."""
        self._load()
        if not isinstance(name, str) or name not in self._entries:
            raise self.unknown(name)
        return self._entries[name]

    def build(self, name: Any, **options: Any) -> Any:
        """Call the entry ``name`` with ``options`` (a class or factory) and return the result."""
        return self.get(name)(**options)

    def names(self) -> list[str]:
        """Sorted registered names (built-ins included)."""
        self._load()
        return sorted(self._entries)

    # ------------------------------------------------------------------ mapping protocol
    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __delitem__(self, name: str) -> None:
        """Remove ``name`` (e.g. a test's temporary registration); unknown names raise."""
        if name not in self._entries:
            raise self.unknown(name)
        del self._entries[name]

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def items(self) -> list[tuple[str, Any]]:
        """``(name, entry)`` pairs in name order."""
        return [(n, self._entries[n]) for n in self.names()]

    def as_dict(self) -> dict[str, Any]:
        """A plain dict copy of the entries."""
        return dict(self.items())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names())})"
