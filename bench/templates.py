"""Benchmark: matching paths against a template set, Bifrost vs per-template regex loops.

Generates realistic paths (mostly frame sequences, work files, publishes, plus
junk that matches nothing) by formatting random fields through each template,
so the generator knows the right answer for every path. Every matcher is
checked against that ground truth; a mismatch is a failure, not a footnote.

Two references: a per-template regex loop in the set's own order, and the
same loop tuned the way a studio tunes its list, most frequent template
first (ordered by how often each template matches the generated paths).
Bifrost and both references are timed in turn within each run, so a drift in
the machine's speed moves all three alike.

Four sets are measured: the default studio templates (``templates/``), a
small 15-template set shaped like a studio that keeps its list short, a
synthetic set of 100+ templates shaped like a large studio configuration,
and a ShotGrid Toolkit ``templates.yml`` of 130+ templates in tk-core's own
syntax (applications × shots and assets × work, publish, snapshot and
render areas, as tk-config-default2 lays them out) imported with
``bifrostd.importers.tk`` as ``bifrostctl templates import tk`` does. For
each set, ``templates check`` (the overlap and one-reading proofs) is timed
too, median of three.

Paths are matched in the generated (random) order by default, the worst case
for anything shared between neighbours; ``--order walk`` sorts them as a walk
of the tree would list them, siblings together.

Prints a table, and as the last line one JSON object with the figures.
Usage: python bench/templates.py [--paths 200000] [--runs 5] [--order random|walk]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
from collections import Counter
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bifrostd.templates import KeyType, TemplateSet, load_template_set  # noqa: E402
from bifrostd.collector import gc_paused  # noqa: E402
from bifrostd.templates.pattern import KeyRef, Optional, walk_tokens  # noqa: E402

JUNK_SUFFIXES = ("~", ".bak", ".tmp", ".swp", " copy", ".autosave")
#: Names no sane key pattern accepts (a leading dot, spaces, '~' or '$'): junk by construction.
JUNK_NAMES = (".DS_Store", "._sh010_comp_v003.nk", "untitled folder", "Copy of notes.txt", "~$shotlist.xlsx", ".nfs000000001")


# -- value generation ---------------------------------------------------------------
_POOLS: dict[str, list[str]] = {}


def _string_value(key, rng: random.Random) -> str:
    if key.choices:
        return rng.choice(key.choices)
    pattern = key.pattern or r"[A-Za-z0-9]+"
    if pattern not in _POOLS:
        _POOLS[pattern] = sorted({_from_pattern(pattern, rng) for _ in range(60)})
    return rng.choice(_POOLS[pattern])


def _from_pattern(pattern: str, rng: random.Random) -> str:
    """A value for the common key-pattern shapes; checked against the pattern, retried otherwise."""
    regex = re.compile(pattern)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(200):
        candidates = [
            rng.choice(alphabet) + "".join(rng.choice(alphabet + "0123456789") for _ in range(rng.randint(2, 8))),
            rng.choice(alphabet) * 2 + str(rng.randint(0, 999)).zfill(3),
            "".join(rng.choice(alphabet) for _ in range(2)) + str(rng.randint(0, 9999)).zfill(4),
            str(rng.randint(0, 9999)).zfill(4),
            rng.choice(["sq", "sh", "SQ", "SH", "ep"]) + str(rng.randint(0, 9999)).zfill(rng.choice([3, 4])),
            rng.choice(alphabet).upper() + "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 7))),
        ]
        for candidate in candidates:
            if regex.fullmatch(candidate):
                return candidate
    raise ValueError(f"can't generate a value for pattern {pattern!r}")


def random_value(key, rng: random.Random) -> Any:
    if key.type is KeyType.STR:
        return _string_value(key, rng)
    if key.type is KeyType.INT:
        low = key.minimum or 0
        return rng.randint(low, max(low, min(key.maximum or 999, 999)))
    if key.type is KeyType.FRAME:
        return rng.randint(1001, 1240)
    return rng.randint(1001, 1030)


def random_fields(template, rng: random.Random) -> dict[str, Any]:
    optional = {template.keys[t.name].field for tok in template.tokens if isinstance(tok, Optional)
                for t in walk_tokens(tok.parts) if isinstance(t, KeyRef)}
    fields: dict[str, Any] = {}
    for key in template.keys.values():
        if key.field in fields or (key.field in optional and rng.random() < 0.5):
            continue
        fields[key.field] = random_value(key, rng)
    return fields


def frames_weigh_more(template) -> float:
    """Frame-sequence templates are 8 times as common as the others, as on a studio volume."""
    return 8 if any(k.type is KeyType.FRAME for k in template.keys.values()) else 1


def generate(template_set: TemplateSet, count: int, seed: int = 7, *, junk: float = 0.1,
             weigh=frames_weigh_more) -> list[tuple[str, str | None]]:
    """(absolute path, expected template name or None) pairs; a ``junk`` share matches nothing."""
    rng = random.Random(seed)
    templates = sorted(template_set.templates.values(), key=lambda t: t.name)
    weights = [weigh(t) for t in templates]
    out: list[tuple[str, str | None]] = []
    while len(out) < count:
        template = rng.choices(templates, weights)[0]
        try:
            path = template_set.format(template.name, random_fields(template, rng))
        except Exception:
            continue
        if rng.random() < junk:
            out.append((_junk(path, rng), None))
        else:
            out.append((path, template.name))
    return out


def _junk(path: str, rng: random.Random) -> str:
    head, _, name = path.rpartition("/")
    choice = rng.random()
    if choice < 0.4:
        return path + rng.choice(JUNK_SUFFIXES)
    if choice < 0.7:
        return f"{head}/{rng.choice(JUNK_NAMES)}"
    return f"{head}/tmp/{name}"


# -- the reference: a straightforward per-template regex loop -------------------------
class RegexLoop:
    """What most pipelines write: one precompiled regex per template, tried in turn."""

    def __init__(self, template_set: TemplateSet) -> None:
        self.roots = [(t, template_set.root_path(t)) for t in template_set.roots]
        self.templates = []
        for template in template_set.templates.values():
            ints = {c.group: c.convert for c in template.captures if c.convert is not str}
            names = {c.group: c.field for c in template.captures}
            self.templates.append((template.name, template.root, template.regex, names, ints))

    def match(self, path: str) -> tuple[str, dict[str, Any]] | None:
        for root, base in self.roots:  # noqa: B007 (root is read after the break)
            if path.startswith(base + "/"):
                relative = path[len(base) + 1:]
                break
        else:
            return None
        for name, root_name, regex, names, converters in self.templates:
            if root_name != root:
                continue
            found = regex.fullmatch(relative)
            if found:
                fields = {}
                for group, text in found.groupdict().items():
                    if text is not None:
                        convert = converters.get(group)
                        fields[names[group]] = convert(text) if convert else text
                return name, fields
        return None


class FrequentFirst(RegexLoop):
    """The loop a studio tunes: templates ordered by how often each matches, most frequent first."""

    def __init__(self, template_set: TemplateSet, expected: list[str | None]) -> None:
        super().__init__(template_set)
        counts = Counter(name for name in expected if name is not None)
        self.templates.sort(key=lambda entry: -counts[entry[0]])  # stable: ties keep the set's order


# -- a ShotGrid Toolkit configuration, imported -----------------------------------------
TK_APPS = [("maya", "ma"), ("nuke", "nk"), ("houdini", "hip"), ("photoshop", "psd"), ("max", "max"),
           ("flame", "clip"), ("alias", "wire"), ("vred", "vpb"), ("mari", "mra"), ("hiero", "hrox"),
           ("katana", "katana"), ("blender", "blend"), ("harmony", "xstage"), ("aftereffects", "aep"),
           ("motionbuilder", "fbx"), ("substance", "spp")]


def tk_style_config(folder: Path) -> Path:
    """A tk-core ``templates.yml`` (and ``roots.yml``) of 16 applications × shot and asset × work, publish,
    snapshot and render templates, plus the roots (134 templates), in tk-core's syntax."""
    lines = ["keys:",
             "    Sequence: {type: str, filter_by: alphanumeric}",
             "    Shot: {type: str, filter_by: alphanumeric}",
             "    Step: {type: str, filter_by: alphanumeric}",
             "    sg_asset_type: {type: str, choices: [Character, Prop, Environment, Vehicle]}",
             "    Asset: {type: str, filter_by: alphanumeric}",
             "    name: {type: str, filter_by: alphanumeric}",
             "    version: {type: int, format_spec: '03'}",
             "    SEQ: {type: sequence, format_spec: '04'}",
             "paths:",
             "    shot_root: sequences/{Sequence}/{Shot}/{Step}",
             "    asset_root: assets/{sg_asset_type}/{Asset}/{Step}",
             ]
    for app, ext in TK_APPS:
        for scope, entity in (("shot", "Shot"), ("asset", "Asset")):
            lines += [
                f"    {app}_{scope}_work: '@{scope}_root/work/{app}/{{name}}.v{{version}}.{ext}'",
                f"    {app}_{scope}_snapshot: '@{scope}_root/work/{app}/snapshots/{{name}}.v{{version}}.{ext}'",
                f"    {app}_{scope}_publish: '@{scope}_root/publish/{app}/{{name}}.v{{version}}.{ext}'",
                f"    {app}_{scope}_render: '@{scope}_root/work/images/{app}/{{{entity}}}_{{name}}_v{{version}}.{{SEQ}}.exr'",
            ]
    lines.append("strings: {}")
    (folder / "core").mkdir(parents=True, exist_ok=True)
    (folder / "core" / "templates.yml").write_text("\n".join(lines) + "\n")
    (folder / "core" / "roots.yml").write_text(
        "primary: {linux_path: /mnt/projects/tk, windows_path: 'P:\\tk', mac_path: /Volumes/projects/tk, default: true}\n")
    return folder


def imported_tk_set(folder: Path) -> Path:
    """The TK-style configuration imported as a Bifrost set; the folder holding it."""
    from bifrostd.importers.emit import write_set
    from bifrostd.importers.tk import import_tk

    result = import_tk(tk_style_config(folder / "tk"))
    return write_set(folder / "imported", result.document, result.header).parent


def check_seconds(location: Path, runs: int = 3) -> float:
    """Median wall time of ``templates check`` on ``location`` (every proof from scratch)."""
    from bifrostd.templates.check import check_template_set

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        check_template_set(location)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- the synthetic sets ----------------------------------------------------------
DEPARTMENTS = ["layout", "anim", "cfx", "fx", "light", "comp", "matte", "roto", "paint", "track",
               "model", "rig", "lookdev", "groom", "crowd", "previs", "edit", "sound", "plate", "review"]
KINDS = [("work", "ma", False), ("work_nk", "nk", False), ("render", "exr", True),
         ("cache", "abc", False), ("precomp", "exr", True), ("publish", "usd", False)]


#: A small studio's list: seven departments' work files and renders, and the shot folder (15 templates).
SMALL_DEPARTMENTS = ["light", "comp", "plate", "fx", "anim", "layout", "matte"]
SMALL_KINDS = [KINDS[0], KINDS[2]]
#: As on a real volume, junk is rare (about 1.5 %) ...
SMALL_JUNK = 0.015


def small_studio_weight(template) -> float:
    """... and one kind of file dominates: renders halve in number from one department to the next
    (lighting about half of all paths), the work files are one share each. The harshest shape for
    Bifrost: a loop ordered by frequency finds most paths with its first regex or two."""
    dept, _, kind = template.name.partition("_")
    if kind != "render":
        return 1
    return 2.0 ** (len(SMALL_DEPARTMENTS) - 1 - SMALL_DEPARTMENTS.index(dept))


def synthetic_set(folder: Path, departments: list[str] = DEPARTMENTS,
                  kinds: list[tuple[str, str, bool]] = KINDS, label: str = "synthetic") -> Path:
    """A set of departments × kinds templates plus the shot folder (121 by default), with roots and keys."""
    lines = [
        "schema: bifrost.templates.1",
        "roots:",
        "  projects: {linux: /mnt/projects, windows: 'P:\\projects', mac: /Volumes/projects}",
        "keys:",
        "  project: {type: str, pattern: '[a-z][a-z0-9]{2,11}'}",
        "  sequence: {type: str, pattern: 'sq\\d{3}'}",
        "  shot: {type: str, pattern: 'sh\\d{4}'}",
        "  name: {type: str, pattern: '[a-z][a-z0-9]*', default: main}",
        "  version: {type: int, padding: 3}",
        "  frame: {type: frame, padding: 4}",
        "templates:",
        "  shot_root: {path: '{project}/shots/{sequence}/{shot}', entity: shot}",
    ]
    for dept in departments:
        for kind, ext, frames in kinds:
            name = f"{dept}_{kind}"
            folder_name = kind.split("_")[0]
            tail = f".{{frame}}.{ext}" if frames else f".{ext}"
            lines.append(f"  {name}: {{path: '{{@shot_root}}/{dept}/{folder_name}{'_' + ext if kind == 'work_nk' else ''}"
                         f"/v{{version}}/{{shot}}_{dept}_{kind}[_{{name}}]_v{{version}}{tail}'}}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{label}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


# -- measuring ------------------------------------------------------------------------
def time_matchers(matchers: dict[str, Any], paths: list[str], runs: int) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Median time of each matcher over every path, in bulk as a scan does (the
    garbage collector paused). Within each run the matchers take turns, so the
    machine's drift moves them alike."""
    timings: dict[str, list[float]] = {name: [] for name in matchers}
    results: dict[str, list[Any]] = {}
    for _ in range(runs):
        for name, match_all in matchers.items():
            start = time.perf_counter()
            results[name] = match_all(paths)
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in timings.items()}, results


def in_bulk(match):
    """A matcher of one path made a matcher of a list, the collector paused as TemplateSet.match_many does."""
    def match_all(paths: list[str]) -> list[Any]:
        with gc_paused():
            return [match(p) for p in paths]
    return match_all


def mismatches_bifrost(results, cases) -> int:
    bad = 0
    for found, (_path, expected) in zip(results, cases):
        name = found.template.name if found is not None and found.template is not None else None
        bad += name != expected
    return bad


def mismatches_reference(results, cases) -> int:
    return sum((r[0] if r else None) != expected for r, (_, expected) in zip(results, cases))


def measure(label: str, template_set: TemplateSet, count: int, runs: int, order: str, **shape: Any) -> dict[str, Any]:
    cases = generate(template_set, count, **shape)
    if order == "walk":
        cases.sort()
    paths = [p for p, _ in cases]
    matchers = {
        "bifrost": template_set.match_many,
        "loop": in_bulk(RegexLoop(template_set).match),
        "frequent": in_bulk(FrequentFirst(template_set, [e for _, e in cases]).match),
    }
    seconds, results = time_matchers(matchers, paths, runs)
    rate = {name: round(len(paths) / s) for name, s in seconds.items()}
    return {
        "set": label,
        "templates": len(template_set.templates),
        "paths": len(paths),
        "junk": sum(1 for _, e in cases if e is None),
        "order": order,
        "bifrost_paths_per_s": rate["bifrost"],
        "reference_paths_per_s": rate["loop"],
        "frequent_first_paths_per_s": rate["frequent"],
        "speedup": round(seconds["loop"] / seconds["bifrost"], 2),
        "speedup_vs_frequent_first": round(seconds["frequent"] / seconds["bifrost"], 2),
        "bifrost_mismatches": mismatches_bifrost(results["bifrost"], cases),
        "reference_mismatches": mismatches_reference(results["loop"], cases),
        "frequent_first_mismatches": mismatches_reference(results["frequent"], cases),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paths", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--order", choices=("random", "walk"), default="random")
    args = parser.parse_args()
    rows = []
    default_dir = REPO / "templates"
    if any(default_dir.glob("*.yaml")):
        rows.append(measure("default", load_template_set(default_dir), args.paths, args.runs, args.order))
        rows[-1]["check_s"] = round(check_seconds(default_dir), 3)
    with tempfile.TemporaryDirectory() as folder:
        small = synthetic_set(Path(folder), SMALL_DEPARTMENTS, SMALL_KINDS, label="small")
        rows.append(measure("small", load_template_set(small), args.paths, args.runs, args.order,
                            junk=SMALL_JUNK, weigh=small_studio_weight))
        rows[-1]["check_s"] = round(check_seconds(small), 3)
        large = synthetic_set(Path(folder))
        rows.append(measure("synthetic", load_template_set(large), args.paths, args.runs, args.order))
        rows[-1]["check_s"] = round(check_seconds(large), 3)
        tk = imported_tk_set(Path(folder))
        rows.append(measure("tk-import", load_template_set(tk), args.paths, args.runs, args.order))
        rows[-1]["check_s"] = round(check_seconds(tk), 3)
    print(f"median of {args.runs} runs, one core, {args.order} order")
    print(f"{'set':<10} {'templates':>9} {'paths':>8} {'junk':>6} {'bifrost/s':>11} {'loop/s':>9} {'frequent/s':>11} "
          f"{'vs loop':>8} {'vs freq':>8} {'mismatch (ours/loop/freq)':>26} {'check s':>8}")
    for r in rows:
        print(f"{r['set']:<10} {r['templates']:>9} {r['paths']:>8} {r['junk']:>6} {r['bifrost_paths_per_s']:>11,} "
              f"{r['reference_paths_per_s']:>9,} {r['frequent_first_paths_per_s']:>11,} {r['speedup']:>7}x "
              f"{r['speedup_vs_frequent_first']:>7}x "
              f"{r['bifrost_mismatches']:>14}/{r['reference_mismatches']}/{r['frequent_first_mismatches']}"
              f" {r['check_s']:>8.2f}")
    print(json.dumps({"bench": "templates", "runs": args.runs, "order": args.order, "results": rows}))


if __name__ == "__main__":
    main()
