"""``shots import``: parse, call :meth:`bifrostd.api.Studio.import_edit`, render its plan or result."""

from __future__ import annotations

from typing import Any

import click

from .output import emit_json, json_option


@click.group()
def shots() -> None:
    """Shots from the edit: import a cut (OTIO, CMX 3600 EDL) as shots and frame ranges."""


@shots.command("import")
@click.argument("edit", type=click.Path(dir_okay=False))
@click.option("--rate", metavar="FPS", help="The edit's frame rate: 24, 25, 30000/1001 (29.97). EDLs do not store "
              "it; default the config's edit.rate, else 24 for them and the file's own for .otio.")
@click.option("--project", help="The project (default: the only one catalogued).")
@click.option("--sequence", help="The sequence of clips whose name gives none (sh0100).")
@click.option("--name-pattern", metavar="REGEX", help="How clip names (or markers) give names: a regex with groups "
              "(?P<shot>...) and optionally (?P<sequence>...) (default: the config's edit.name_pattern, else sq010_sh0100 "
              "or sh0100).")
@click.option("--start", type=int, help="The first frame of every shot's cut (default: the config's edit.start_frame, "
              "1001).")
@click.option("--handles", metavar="N|IN,OUT", help="Handles either side (default: each shot's own; 0 for new ones).")
@click.option("--force", is_flag=True, help="Apply changes that leave rendered frames outside a shot's new range.")
@click.option("--dry-run", is_flag=True, help="Print every change; change nothing.")
@json_option
@click.pass_obj
def import_command(obj, edit: str, rate: str | None, project: str | None, sequence: str | None,
                   name_pattern: str | None, start: int | None, handles: str | None, force: bool, dry_run: bool,
                   as_json: bool) -> int:
    """Import an edit: new sequences and shots, changed cut ranges; shots no longer in the cut are reported.

    Applying creates what is new as 'create' does (folders and sidecar) and
    writes each shot's cut range (from --start, the clip's length at the
    edit's rate) and handles to its sidecar. Nothing is deleted. A refused
    name changes nothing; so does a change that leaves rendered frames
    outside a shot's new range, unless --force. Needs the 'edit' extra
    (pip install 'bifrostd[edit]').
    """
    result = obj.studio().import_edit(edit, project=project, rate=rate, sequence=sequence, name_pattern=name_pattern,
                                      start=start, handles=handles, force=force, dry_run=dry_run)
    if as_json:
        emit_json("bifrost.shots-import.1", result.to_json())
    else:
        click.echo(_text(result.to_json()))
    return 0


def _range(frames: dict[str, int] | None) -> str:
    if frames is None:
        return "-"
    handles = f" (handles {frames['handle_in']}, {frames['handle_out']})" if frames["handle_in"] or \
        frames["handle_out"] else ""
    return f"{frames['cut_in']}-{frames['cut_out']}{handles}"


def _text(document: dict[str, Any]) -> str:
    dry = document["dry_run"]
    lines = [f"{'would create' if dry else 'created'} sequence {uri}" for uri in document["new_sequences"]]
    verbs = {"new": "would create" if dry else "created", "changed": "would change" if dry else "changed",
             "same": "unchanged"}
    for shot in document["shots"]:
        change = f"{_range(shot['old'])} -> {_range(shot['frames'])}" if shot["action"] == "changed" \
            else _range(shot["frames"])
        lines.append(f"{verbs[shot['action']]:<12} {shot['uri']}  {change}  ({shot['clip']})")
        lines += [f"  rendered outside the new range: {s['sequence']} frames {s['frames']}" for s in shot["stranded"]]
    lines += [f"not in the cut  {uri}  (kept)" for uri in document["removed"]]
    lines += [f"refused      {r['clip']}: {r['reason']}" for r in document["refused"]]
    counts = document["counts"]
    lines.append(f"{counts['new']} new, {counts['changed']} changed, {counts['same']} unchanged, "
                 f"{counts['removed']} not in the cut, {counts['refused']} refused"
                 + (" (dry run: nothing changed)" if dry else ""))
    return "\n".join(lines)
