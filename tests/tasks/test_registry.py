"""Registering a task from outside the package: built-ins and users' tasks coexist in any order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from onethinker.tasks import (
    DuplicateTaskError,
    Parsed,
    TaskSpec,
    all_tasks,
    get_task,
    register,
    task_key,
    unregister,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")
BUILTIN = sorted([
    "multiple choice", "numerical", "regression", "OCR", "math", "open-ended", "temporal grounding",
    "spatial grounding", "spatial-temporal grounding", "tracking", "segmentation/image", "segmentation/video",
])

# A user's package: a spec module that registers itself on import (what docs/new_task.md describes).
USER_MODULE = textwrap.dedent('''
    from onethinker.tasks import Parsed, TaskSpec, register

    def parse(text):
        text = text.strip()
        return Parsed(int(text)) if text.isdigit() else Parsed.fail("not a whole number")

    SPEC = TaskSpec(key="blink count", problem_type="blink count", data_types=("video",),
                    instruction=" Answer with a whole number.", parse=parse,
                    structure=lambda a, g: 0.5 if a.strip() else 0.0,
                    accuracy=lambda p, g: float(p == g), metric_suite="accuracy")
''')


def _run(code: str, tmp_path: Path, extra_path: str = "") -> dict:
    (tmp_path / "blinkpkg.py").write_text(USER_MODULE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (SRC, str(tmp_path), extra_path) if p))
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spec(key: str = "blink count", **changes) -> TaskSpec:
    fields = dict(key=key, problem_type=key, data_types=("video",), instruction=" Answer with a number.",
                  parse=lambda t: Parsed(t.strip()), structure=lambda a, g: 0.5,
                  accuracy=lambda p, g: float(p == g), metric_suite="accuracy")
    fields.update(changes)
    return TaskSpec(**fields)


def test_registering_before_the_first_lookup_keeps_the_twelve_builtins(tmp_path):
    # A fresh interpreter: the user's register() runs before anything has looked a task up.
    got = _run('''
        import json, blinkpkg
        from onethinker.tasks import register, task_key, all_tasks, get_task
        register(blinkpkg.SPEC)
        print(json.dumps({"keys": sorted(all_tasks()), "math": task_key("math"),
                          "seg": task_key("Segmentation", "video"), "mine": task_key("Blink Count"),
                          "reward": get_task("numerical").accuracy(3.0, 3.0)}))
    ''', tmp_path)
    assert got["keys"] == sorted(BUILTIN + ["blink count"])
    assert (got["math"], got["seg"], got["mine"], got["reward"]) == ("math", "segmentation/video", "blink count", 1.0)


def test_registering_after_the_first_lookup_keeps_the_twelve_builtins(tmp_path):
    got = _run('''
        import json, blinkpkg
        from onethinker.tasks import register, task_key, all_tasks
        before = sorted(all_tasks())
        register(blinkpkg.SPEC)
        print(json.dumps({"before": before, "after": sorted(all_tasks()), "mine": task_key("blink count")}))
    ''', tmp_path)
    assert got["before"] == BUILTIN
    assert got["after"] == sorted(BUILTIN + ["blink count"])
    assert got["mine"] == "blink count"


def test_an_installed_package_adds_its_task_through_the_entry_point_group(tmp_path):
    # An installed distribution is a *.dist-info folder on sys.path with an entry_points.txt.
    site = tmp_path / "site"
    dist = site / "blinkpkg-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: blinkpkg\nVersion: 0.1\n")
    # The module the entry point names also registers its spec on import (as docs/new_task.md's does).
    # SPEC is bound only once register() returns, so the entry point must not be loaded mid-import.
    (tmp_path / "blinkreg.py").write_text("import blinkpkg\nfrom onethinker.tasks import register\n"
                                          "SPEC = register(blinkpkg.SPEC)\n")
    (dist / "entry_points.txt").write_text("[onethinker.tasks]\nblink = blinkreg:SPEC\n")
    for first in ("", "import blinkreg"):  # found through the entry point, or imported by the user first
        got = _run(f'''
            import json
            {first}
            from onethinker.tasks import task_key, all_tasks, get_task
            print(json.dumps({{"mine": task_key("blink count"), "keys": sorted(all_tasks()),
                              "acc": get_task("blink count").accuracy(3, 3)}}))
        ''', tmp_path, extra_path=str(site))
        assert got["mine"] == "blink count"
        assert got["keys"] == sorted(BUILTIN + ["blink count"])
        assert got["acc"] == 1.0


def test_a_broken_entry_point_names_itself(tmp_path):
    site = tmp_path / "site"
    dist = site / "brokenpkg-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[onethinker.tasks]\nbad = no_such_module_xyz:SPEC\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((SRC, str(site))))
    out = subprocess.run([sys.executable, "-c", "from onethinker.tasks import task_key; task_key('math')"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "entry point 'bad'" in out.stderr and "no_such_module_xyz" in out.stderr


def test_explicit_register_and_unregister_in_this_process():
    spec = register(_spec())
    try:
        assert task_key("BLINK_COUNT") == "blink count" and get_task("blink count") is spec
        assert task_key("math") == "math" and len(all_tasks()) == 13
    finally:
        unregister("blink count")
    assert sorted(all_tasks()) == BUILTIN


@pytest.mark.parametrize(("spec", "message"), [
    (_spec("math"), "task key 'math' is already registered (by onethinker (built-in))"),
    (_spec("sums", problem_type="numerical"), "the name 'numerical' already resolves to task 'numerical'"),
    (_spec("sums", aliases=("captioning",)), "the name 'captioning' already resolves to task 'open-ended'"),
])
def test_a_duplicate_key_or_name_is_refused_with_both_owners_named(spec, message):
    with pytest.raises(DuplicateTaskError) as err:
        register(spec)
    assert message in str(err.value)
    assert sorted(all_tasks()) == BUILTIN  # nothing half-registered


def test_a_second_registration_of_a_users_task_names_the_first(tmp_path):
    register(_spec())
    try:
        with pytest.raises(DuplicateTaskError, match=r"already registered \(by [a-z.]*test_registry\)"):
            register(_spec())
    finally:
        unregister("blink count")


def test_the_registry_stays_light_and_every_builtin_hook_resolves(tmp_path):
    # Specs name their generator and drawing as "module:function": loading the registry imports none of
    # the heavy layers above it (data, eval, train, torch, matplotlib).
    got = _run('''
        import json, sys
        from onethinker.tasks import all_tasks
        specs = all_tasks()
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "matplotlib", "transformers")
                       or m.startswith(("onethinker.data", "onethinker.eval", "onethinker.train", "onethinker.viz")))
        hooks = {k: [name for name in ("synth", "draw", "draw_times", "describe") if s.hook(name) is not None]
                 for k, s in specs.items()}
        print(json.dumps({"heavy": heavy, "hooks": hooks}))
    ''', tmp_path)
    assert got["heavy"] == []
    assert all("synth" in names for names in got["hooks"].values())
    assert got["hooks"]["tracking"] == ["synth", "draw", "draw_times", "describe"]
    assert got["hooks"]["math"] == ["synth"]
