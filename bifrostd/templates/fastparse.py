"""Parsers specialised per template: straight-line code instead of a loop over captures.

Parsing runs for every path of every scan, hundreds of thousands of times a
second, and a general loop over (group, field, converter) triples spends more
time building the field dict than the regex spends matching. For a template
whose fields each come from exactly one group, with no check beyond the
regex (see ``CompiledTemplate`` and ``_simple_captures``), this module writes
the parser out as Python source, the way ``collections.namedtuple`` and
``dataclasses`` write their methods::

    def parse(relative):
        found = fullmatch(relative)
        if found is None:
            return None
        v0, v1, v2 = found.groups()
        fields = {'shot': v0, 'version': int(v1)}
        if v2 is not None:
            fields['name'] = v2
        return fields

Only field names reach the generated text, and only through ``repr`` as
string constants; local names are generated. The result is exactly what the
general loop returns, fields in the same order (a test compares the two).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .keys import FRAME_PLACEHOLDER_STARTS, FRAME_RANGE_ENDS

Parser = Callable[[str], "dict[str, Any] | None"]


def specialised_parser(name: str, regex: re.Pattern[str], fields: tuple[str, ...], integers: tuple[str, ...],
                       numbers: tuple[str, ...], optional: tuple[str, ...], *,
                       ascii_regex: re.Pattern[str] | None = None) -> Parser:
    """A parse function for ``regex`` whose groups fill ``fields`` in order.

    ``integers`` are always present and digits only; ``numbers`` become ints
    unless they are a frame notation (``####``, ``%04d``, ``$F4``, ``[1001-1100]``, ``1001-1100#``); ``optional`` fields are left out when their group
    did not take part in the match. ``ascii_regex``, when given, matches an all-ASCII path instead of
    ``regex`` (the same groups; see ``compiled.ascii_twin``).
    """
    values = [f"v{i}" for i in range(len(fields))]
    match = "(fullmatch_ascii if relative.isascii() else fullmatch)" if ascii_regex is not None else "fullmatch"
    lines = ["def parse(relative):",
             f"    found = {match}(relative)",
             "    if found is None:",
             "        return None"]
    if values:
        lines.append(f"    {', '.join(values)}, = found.groups()")
    leading: list[str] = []
    rest: list[str] = []
    for field, value in zip(fields, values):
        if field in integers:
            expression = f"int({value})"
        elif field in numbers:
            expression = (f"({value} if {value}[0] in {FRAME_PLACEHOLDER_STARTS!r} or {value}[-1] in {FRAME_RANGE_ENDS!r}"
                          f" else int({value}))")
        else:
            expression = value
        if field in optional:
            rest.append(f"    if {value} is not None:\n        fields[{field!r}] = {expression}")
        elif rest:
            rest.append(f"    fields[{field!r}] = {expression}")
        else:
            leading.append(f"{field!r}: {expression}")
    lines.append(f"    fields = {{{', '.join(leading)}}}")
    lines.extend(rest)
    lines.append("    return fields")
    namespace: dict[str, Any] = {"fullmatch": regex.fullmatch,
                                 "fullmatch_ascii": (ascii_regex or regex).fullmatch}
    exec(compile("\n".join(lines), f"<parser of template {name}>", "exec"), namespace)
    parse: Parser = namespace["parse"]
    return parse
