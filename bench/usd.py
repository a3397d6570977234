"""What reading USD layers costs: Bifrost's dependency extraction against usd-core's own calls, per layer.

Writes ``--layers`` small layers in a temporary folder (each: a sublayer, a
payload, a variant set with two references, a ``<UDIM>`` texture with two
tiles, a ``####`` cache, a ``bifrost:`` URI and a reference to the next
asset), then times, each as the best of ``--runs`` over all the layers:

- ``read_dependencies``: Bifrost's Sdf walk (arc kind, prim, anchoring, UDIM/frame expansion on disk);
- ``OpenAsAnonymous + GetCompositionAssetDependencies``: parse alone, composition arcs only (the reference);
- ``UsdUtils.ExtractExternalReferences``: usd-core's one-call extraction (no arc kinds, no prim paths).

Prints one line per method, then one JSON object with the figures.
Usage: ``.venv/bin/python bench/usd.py [--layers 1000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LAYER = """#usda 1.0
(
    subLayers = [@./look.usda@]
)

def Xform "a" (
    payload = @./geo.usda@
    variants = {{
        string v = "hi"
    }}
    prepend variantSets = "v"
)
{{
    asset tex = @./tex/c.<UDIM>.exr@
    asset cache = @./cache/c.####.abc@
    asset rig = @bifrost:///task/asset/demo/character/a{i}/rig?version=latest@
    asset other = @../a{next:05d}/asset.usda@
    variantSet "v" = {{
        "hi" (
            references = @./geo.usda@
        ) {{
        }}
        "lo" (
            references = @./geo_lo.usda@
        ) {{
        }}
    }}
}}
"""


def write_layers(root: Path, count: int) -> list[str]:
    layers = []
    for i in range(count):
        folder = root / f"a{i:05d}"
        (folder / "tex").mkdir(parents=True)
        for tile in ("1001", "1002"):
            (folder / "tex" / f"c.{tile}.exr").touch()
        (folder / "geo.usda").write_text("#usda 1.0\n")
        (folder / "asset.usda").write_text(LAYER.format(i=i, next=(i + 1) % count))
        layers.append(str(folder / "asset.usda"))
    return layers


def best(function: Callable[[str], Any], layers: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for layer in layers:
            function(layer)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from bifrostd.usd.extract import read_dependencies
    from bifrostd.usd.loader import pxr

    sdf, usd_utils = pxr("Sdf"), pxr("UsdUtils")
    methods: dict[str, Callable[[str], Any]] = {
        "read_dependencies": read_dependencies,
        "OpenAsAnonymous + GetCompositionAssetDependencies":
            lambda f: sdf.Layer.OpenAsAnonymous(f).GetCompositionAssetDependencies(),
        "UsdUtils.ExtractExternalReferences": usd_utils.ExtractExternalReferences,
    }
    with tempfile.TemporaryDirectory() as scratch:
        layers = write_layers(Path(scratch), args.layers)
        read_dependencies(layers[0])  # warm: plugins loaded once per process
        figures = {name: best(method, layers, args.runs) for name, method in methods.items()}
    for name, seconds in figures.items():
        print(f"{name:<52} {seconds:7.3f} s  {seconds / args.layers * 1e3:6.3f} ms/layer  "
              f"{args.layers / seconds:8.0f} layers/s")
    print(json.dumps({"layers": args.layers, "seconds": figures}))


if __name__ == "__main__":
    main()
