"""Law forms: the registry of every law scalelab can fit, and the :class:`Form` base class.

A form knows its formula, its input/target columns, its parameter names, and how to
evaluate itself *vectorised over a batch of parameter vectors* (``theta`` of shape
``(k, p)``), which is what makes grid starts and bootstrap cheap.  Fitting happens in an
internal parameter space (``theta``, e.g. ``log E`` instead of ``E``) and in a *fit space*
for the target (``log`` for losses, identity for accuracies); :meth:`Form.to_params` and
:meth:`Form.from_params` convert to the public parameter names.

New forms subclass :class:`Form` (:mod:`laws.forms.base`) and are added with the
:func:`register` decorator (``@register("my_law")``, which also sets the class's ``name``). The built-in forms
live in :mod:`laws.forms.training`, :mod:`~laws.forms.overtrain` (overtrain, downstream),
:mod:`~laws.forms.farseer`, :mod:`~laws.forms.tts`, :mod:`~laws.forms.schedule` and
:mod:`~laws.forms.hparam` and are imported on first lookup.
"""
from __future__ import annotations

from typing import Any

from laws.errors import LawFitError
from laws.forms.base import Form, FormHook, lse, product_grid
from laws.registry import Registry

FORMS = Registry("form", LawFitError, instantiate=True, stamp="name",
                 builtin=("laws.forms.training", "laws.forms.tts", "laws.forms.schedule",
                          "laws.forms.hparam", "laws.forms.overtrain", "laws.forms.farseer"))
register = FORMS.register


def forms() -> dict[str, Form]:
    """Return the registry: form name -> :class:`Form` (inputs, target, params, formula)."""
    return FORMS.as_dict()


def get_form(name: Any) -> Form:
    """Look up a form by name (or pass a :class:`Form` through); unknown names raise LawFitError."""
    if isinstance(name, Form):
        return name
    return FORMS.get(name)


__all__ = ["FORMS", "Form", "FormHook", "forms", "get_form", "lse", "product_grid", "register"]
