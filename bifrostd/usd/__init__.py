"""USD layers read at the Sdf level: their dependencies, a layer's outline, and rewriting its asset paths.

This room owns everything that touches ``pxr`` (usd-core, the ``usd``
extra). ``pxr`` is imported on first use (:mod:`.loader`), never when
``bifrostctl`` starts; without usd-core a command raises PackageMissing
(exit 16) naming ``pip install 'bifrostd[usd]'``. No stage is ever composed:
each layer is opened on its own, so a layer that references a thousand
others costs one parse. What a layer depends on is a pure value
(:class:`~.model.LayerDependencies`) that the catalog can store as edges.

- :mod:`.model`: the frozen result values (no pxr).
- :mod:`.tokens`: anchoring a path to its layer, expanding ``<UDIM>`` and frame tokens (no pxr).
- :mod:`.extract`: one layer's dependencies, each with arc kind, prim path, authored and anchored path.
- :mod:`.outline`: a layer's stack, variant sets and arcs per prim (``bifrostctl usd inspect``).
- :mod:`.rewrite`: a copy of a layer with some asset paths replaced, written atomically.
"""

from __future__ import annotations
