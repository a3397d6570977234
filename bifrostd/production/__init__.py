"""The production domain: making entities, not only observing them.

:mod:`.create` plans and makes an entity's folder skeleton and its sidecar
(``bifrostctl create``). Planning is pure over the template set; making goes
through ``observe.safe_paths`` and ``authored``, and the catalog follows as
it follows the watcher.
"""
