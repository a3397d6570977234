"""Importing other systems' folder conventions as Bifrost template sets.

Each importer reads a foreign configuration (a ShotGrid Toolkit ``templates.yml``, an AYON anatomy) and
produces a :class:`~bifrostd.importers.report.ImportResult`: the Bifrost template set as a YAML document
plus a report of every construct that could not be carried exactly. ``emit`` writes the document to
disk; the CLI (``bifrostctl templates import``) renders the report.

The importers are pure translation over the parsed source: they read files but touch no catalog, daemon
or tree, so they sit just above the template engine whose rules the result must pass.
"""
