"""The one Registry class: lazy built-ins, the decorator shapes, the one-line unknown-name error,
and that every registry of the three packages is one."""
from __future__ import annotations

import importlib

import pytest

from laws.registry import Registry


class Boom(ValueError):
    pass


def test_register_get_build_and_mapping_protocol():
    reg = Registry("widget", Boom)

    @reg.register("round")
    class Round:
        def __init__(self, r=1):
            self.r = r

    assert reg.get("round") is Round and reg["round"] is Round
    assert reg.build("round", r=3).r == 3
    assert "round" in reg and list(reg) == ["round"] and len(reg) == 1
    assert reg.items() == [("round", Round)] and reg.as_dict() == {"round": Round}
    del reg["round"]
    assert "round" not in reg


def test_unknown_name_is_one_line_in_the_owners_error_listing_known_names():
    reg = Registry("widget", Boom)
    reg.register("b")(object)
    reg.register("a")(object)
    with pytest.raises(Boom) as ei:
        reg.get("c")
    assert str(ei.value) == "unknown widget 'c'; known: a, b"
    with pytest.raises(Boom, match="unknown widget 3"):
        reg.get(3)


def test_bare_decorator_uses_the_objects_name_and_stamp_sets_it():
    reg = Registry("form", Boom, instantiate=True, stamp="name")

    @reg.register("lin")
    class Lin:
        pass

    assert Lin.name == "lin" and isinstance(reg.get("lin"), Lin)   # stored as an instance

    class Quad:
        name = "quad"

    reg.register(Quad)                     # bare: the class's own name
    assert isinstance(reg.get("quad"), Quad)
    with pytest.raises(Boom, match="without a name"):
        reg.register(type("Anon", (), {}))


def test_builtins_load_on_first_lookup_only(tmp_path, monkeypatch):
    (tmp_path / "reg_builtin_mod.py").write_text(
        "from tests_reg_holder import REG\nREG.register('built')(object)\n")
    (tmp_path / "tests_reg_holder.py").write_text(
        "from laws.registry import Registry\nREG = Registry('thing', ValueError, builtin=('reg_builtin_mod',))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    holder = importlib.import_module("tests_reg_holder")
    import sys
    assert "reg_builtin_mod" not in sys.modules           # nothing imported at definition
    assert holder.REG.names() == ["built"] and "reg_builtin_mod" in sys.modules


@pytest.mark.parametrize("module,name", [
    ("laws.forms", "FORMS"),
    ("orchestrator.train.data", "DATA_SOURCES"),
    ("evaluators.tasks", "TASKS"),
    ("evaluators.tasks.verifiers", "VERIFIERS"),
    ("evaluators.rewards", "REWARD_MODELS"),
    ("evaluators.engines", "ENGINES"),
    ("evaluators.strategies", "STRATEGIES"),
])
def test_every_registry_is_a_registry_with_the_same_error(module, name):
    reg = getattr(importlib.import_module(module), name)
    assert isinstance(reg, Registry) and len(reg) >= 1
    with pytest.raises(Exception) as ei:
        reg.get("no-such-thing")
    assert str(ei.value).startswith(f"unknown {reg.kind} 'no-such-thing'; known: ")
    assert getattr(ei.value, "exit_code", None) == 2          # the owning package's root error
