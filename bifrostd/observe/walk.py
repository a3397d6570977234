"""Walking one root: what storage holds, as FileStates, directory mtimes and findings.

This module owns the observation of storage by walking and stat-ing. It never
opens a file (so a FIFO can never block it) and never follows a symlink: links
are classified, not traversed. Hashing lives in ``bifrostd.observe.hashing``.

Fast rescans. Creating, deleting or renaming an entry changes its *parent's*
mtime, so a directory whose mtime_ns equals the catalog's prior view still has
exactly the entries it had: it is not re-listed, and its files are taken as
unchanged by the caller. Its subdirectories (known from the prior view's keys)
are still visited, because a file created in ``a/b`` changes ``a/b``'s mtime,
not ``a``'s. What a pruned rescan cannot see is a file modified *in place*
(same name, new content): the watcher reports those, and a full walk
(``full=True``, scheduled or ``bifrostctl scan --full``) repairs anything the
watcher missed.

Unchanged files. A full walk given the catalog's ``known`` signatures
compares each regular file's ``lstat`` with its record's in the listing
loop and makes no ``FileState`` for one whose size, mtime, inode, device and
owner all match: it is only counted (``WalkResult.unchanged``), and its
record drops out of ``WalkResult.unmatched``, the records still to plan.

Racy directories. Directory mtimes are as coarse as the filesystem's clock
tick, so a directory listed in the same tick as a later creation would keep
the same mtime. A directory whose mtime is within ``settle_ns`` of the walk's
start is therefore remembered as ``UNSETTLED`` in ``WalkResult.directories``,
and the next rescan lists it again. Keep ``settle_ns`` above the clock skew
between this host and a NAS.

Invariants:
- relative paths are POSIX, root-relative, ``""`` is the root itself; names
  that are not UTF-8 stay surrogate-escaped ``str`` (``os.fsdecode``).
- nothing outside the root is ever listed or stat-ed through a symlink.
- per-path problems are findings; only an unusable root raises ``ScanError``
  (treating an unmounted volume as empty would mark every file missing).
"""

from __future__ import annotations

import errno
import os
import stat as st_
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from bifrostd.errors import ScanError
from bifrostd.model import FileState, Finding, FindingKind, KnownFile

__all__ = [
    "SETTLE_NS",
    "UNSETTLED",
    "PathStates",
    "Symlink",
    "WalkResult",
    "stat_paths",
    "walk",
]

UNSETTLED = -1
"""The mtime remembered for a directory modified too recently to trust; it never equals a real one."""

SETTLE_NS = 2_000_000_000

ScandirFn = Callable[[int], Iterator[os.DirEntry[str]]]
StatFn = Callable[..., os.stat_result]


@dataclass(frozen=True, slots=True)
class Symlink:
    """A symlink inside the root whose target is inside the root too; recorded, never followed.

    Links are recorded rather than ignored so the catalog can tell "a file
    here became a link" from "a file vanished", and so drift reports can show
    them; they are not followed because the target is catalogued at its own
    path already, and following links is how walks escape roots and loop.
    """

    relative: str
    target: str


@dataclass(frozen=True, slots=True)
class WalkResult:
    """One walk of (part of) a root.

    ``directories`` is the view to keep for the next rescan: every directory
    seen (listed or skipped) with its mtime_ns, or ``UNSETTLED``. A prior
    directory that is in neither ``directories`` nor ``unreadable`` is gone,
    with its files. Files of a ``skipped`` directory are unchanged (take them
    from the catalog); files of a ``listed`` directory are exactly those in
    ``files`` under it. Files of an ``unreadable`` directory are unknown:
    keep what the catalog has and let the finding speak.

    With ``known`` signatures, ``files`` leaves out the ``unchanged`` regular
    files found exactly as known (``unchanged_bytes`` is their size), and
    ``unmatched`` holds the known entries no file matched: changed, gone,
    or in a folder that was not listed.
    """

    root: str
    files: tuple[FileState, ...]
    directories: Mapping[str, int]
    listed: frozenset[str]
    skipped: frozenset[str]
    unreadable: frozenset[str]
    symlinks: tuple[Symlink, ...] = ()
    findings: tuple[Finding, ...] = ()
    unchanged: int = 0
    unchanged_bytes: int = 0
    unmatched: Mapping[str, KnownFile] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PathStates:
    """A re-observation of specific paths: regular files, directories, and paths with no file any more.

    ``gone`` holds paths where no regular file exists now: vanished, or
    replaced by a directory, a link or a special file (those also appear in
    ``directories`` or as a finding).
    """

    states: tuple[FileState, ...]
    directories: Mapping[str, int]
    gone: frozenset[str]
    findings: tuple[Finding, ...] = ()


@dataclass(slots=True)
class _Walk:
    """The mutable accumulator of one walk; internal, turned into a frozen WalkResult at the end."""

    root: str
    root_real: str
    scandir: ScandirFn
    stat: StatFn
    fresh_after_ns: int
    known: Mapping[str, KnownFile] = field(default_factory=dict)
    unseen: dict[str, KnownFile] = field(default_factory=dict)
    unchanged_bytes: int = 0
    files: list[FileState] = field(default_factory=list)
    directories: dict[str, int] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)
    symlinks: list[Symlink] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def find(self, kind: FindingKind, relative: str, message: str) -> None:
        self.findings.append(Finding(kind, self.root, relative, message))

    def remember(self, relative: str, mtime_ns: int) -> None:
        settled = mtime_ns < self.fresh_after_ns
        self.directories[relative] = mtime_ns if settled else UNSETTLED

    def result(self) -> WalkResult:
        return WalkResult(
            self.root,
            tuple(self.files),
            self.directories,
            frozenset(self.listed),
            frozenset(self.skipped),
            frozenset(self.unreadable),
            tuple(self.symlinks),
            tuple(self.findings),
            len(self.known) - len(self.unseen),
            self.unchanged_bytes,
            self.unseen,
        )


def walk(
    root_name: str,
    root_path: str | os.PathLike[str],
    prior: Mapping[str, int] | None = None,
    *,
    full: bool = False,
    under: str = "",
    scandir: ScandirFn = os.scandir,
    stat: StatFn = os.stat,
    now_ns: Callable[[], int] = time.time_ns,
    settle_ns: int = SETTLE_NS,
    on_listed: Callable[[list[FileState], int, int], None] | None = None,
    known: Mapping[str, KnownFile] | None = None,
) -> WalkResult:
    """Walk ``root_path`` (or its subfolder ``under``) and observe every regular file.

    ``prior`` is the catalog's ``{relative_dir: mtime_ns}`` from the last walk
    (its ``WalkResult.directories``); with it, and unless ``full``, directories
    whose mtime is unchanged are not re-listed. ``scandir`` and ``stat`` are
    seams for tests: ``scandir`` gets an open folder descriptor; ``stat`` is
    called as ``stat(name, dir_fd=fd, follow_symlinks=False)`` for a listed
    entry and as ``stat(path, follow_symlinks=...)`` otherwise.
    ``on_listed`` is called after each folder is listed with the files found
    so far (the walk's own growing list: read it, don't keep or change it),
    and how many files and bytes were found unchanged so far, to show
    progress. ``known`` maps relative paths to the catalog's
    signatures: files found exactly as known are counted, not put in
    ``files`` (see ``WalkResult``). Raises ``ScanError`` if the root itself
    cannot be used.
    """
    root_abs = os.fspath(root_path)
    top = _check_under(under)
    top_st = _stat_root(root_name, root_abs, top, stat)
    state = _Walk(root_name, os.path.realpath(root_abs), scandir, stat, now_ns() - settle_ns)
    if known:
        state.known, state.unseen = known, dict(known)  # a copy: the caller's mapping is left as it was
    view = prior if prior is not None and not full else None
    children = _children(view) if view is not None else {}
    stack: list[tuple[str, str, os.stat_result]] = [(top, _join(root_abs, top), top_st)]
    while stack:
        relative, absolute, dir_st = stack.pop()
        state.remember(relative, dir_st.st_mtime_ns)
        unchanged = view is not None and view.get(relative, UNSETTLED) == dir_st.st_mtime_ns != UNSETTLED
        kids = _known_subdirs(state, relative, absolute, children) if unchanged else None
        if kids is not None:
            state.skipped.add(relative)
            stack.extend(kids)
        else:
            stack.extend(_list(state, relative, absolute))
            if on_listed is not None:
                on_listed(state.files, len(state.known) - len(state.unseen), state.unchanged_bytes)
    if not top and prior:
        _distrust_an_empty_root(state, prior)
    return state.result()


def _distrust_an_empty_root(state: _Walk, prior: Mapping[str, int]) -> None:
    """A root folder with no folders in it, where the last walk saw some, is taken for an absent mount.

    A network share that is not mounted leaves its empty mount point; believing
    it would mark every file of the root missing (and a mirror with
    ``delete: mirror`` would then empty the root's backup). The root is
    treated as unreadable instead: its records are kept, and a finding says why.
    """
    no_folders = state.listed == {""} and set(state.directories) <= {""} and not state.unreadable
    if not no_folders:  # stray files in an empty mount point (an app writing there) don't count
        return
    known = sum(1 for relative in prior if relative)  # counted only for a root with no folders
    if not known:
        return
    state.files.clear()  # stray files in the mount point: hidden again once the share is mounted
    state.unseen, state.unchanged_bytes = dict(state.known), 0
    state.listed.discard("")
    state.directories.pop("", None)
    state.unreadable.add("")
    state.find(FindingKind.ROOT_EMPTY, ".", f"the root folder has no folders, but the last walk saw {known} in it "
               "(not mounted?): nothing is marked missing; to record that everything was deleted, make any folder "
               "in it and scan again")


def _check_under(under: str) -> str:
    parts = under.strip("/").split("/") if under.strip("/") else []
    if under.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a root-relative folder: {under!r}")
    return "/".join(parts)


def _stat_root(root_name: str, root_abs: str, top: str, stat: StatFn) -> os.stat_result:
    """The root may be a symlink (a mount alias); below it nothing is followed."""
    try:
        root_st = stat(root_abs)
        top_st = stat(_join(root_abs, top), follow_symlinks=False) if top else root_st
    except OSError as error:
        raise ScanError(f"root {root_name!r} at {root_abs} cannot be walked: {error.strerror}") from error
    if not st_.S_ISDIR(root_st.st_mode):
        raise ScanError(f"root {root_name!r} at {root_abs} is not a directory")
    if not st_.S_ISDIR(top_st.st_mode):
        raise ScanError(f"{top!r} in root {root_name!r} is not a directory")
    return top_st


def _join(parent: str, relative: str) -> str:
    return f"{parent}/{relative}" if relative else parent


def _children(prior: Mapping[str, int]) -> dict[str, list[str]]:
    """Each prior directory's known subdirectories, derived from the view's keys."""
    children: dict[str, list[str]] = {}
    for relative in prior:
        if relative:
            children.setdefault(relative.rpartition("/")[0], []).append(relative)
    return children


def _known_subdirs(
    state: _Walk, relative: str, absolute: str, children: Mapping[str, list[str]]
) -> list[tuple[str, str, os.stat_result]] | None:
    """Stat the prior view's subdirectories of an unchanged directory.

    Returns None if any of them is no longer a plain directory: the mtime
    lied (clock tick, an rsync restoring mtimes), so the directory is listed.
    """
    kids = []
    for kid in children.get(relative, ()):
        kid_abs = f"{absolute}/{kid.rpartition('/')[2]}"
        try:
            kid_st = state.stat(kid_abs, follow_symlinks=False)
        except OSError:
            return None
        if not st_.S_ISDIR(kid_st.st_mode):
            return None
        kids.append((kid, kid_abs, kid_st))
    return kids


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _list(state: _Walk, relative: str, absolute: str) -> list[tuple[str, str, os.stat_result]]:
    """List one directory: record its files, return its subdirectories to visit (stat-ed).

    The folder is opened once (``O_NOFOLLOW``: a folder swapped for a link is
    not listed) and its entries are stat-ed relative to that descriptor:
    no path is resolved again, which is faster (~15 % of a full walk) and
    means a rename higher up cannot redirect the stats elsewhere.
    """
    flags = _DIR_FLAGS if relative else _DIR_FLAGS & ~os.O_NOFOLLOW  # the root itself may be an alias
    try:
        folder_fd = os.open(absolute, flags)
    except OSError as error:
        _unreadable(state, relative, error)
        return []
    try:
        return _list_fd(state, relative, absolute, folder_fd)
    finally:
        os.close(folder_fd)


def _list_fd(state: _Walk, relative: str, absolute: str, folder_fd: int) -> list[tuple[str, str, os.stat_result]]:
    try:
        entries = list(state.scandir(folder_fd))
    except OSError as error:
        _unreadable(state, relative, error)
        return []
    state.listed.add(relative)
    prefix = f"{relative}/" if relative else ""
    subdirs = _entries(state, prefix, absolute, folder_fd, entries)
    unusual = [e.name for e in entries if not e.name.isascii()]
    if unusual:
        _check_names(state, prefix, unusual, entries)
    return [_subdir for name in subdirs if (_subdir := _visit_dir(state, prefix + name, f"{absolute}/{name}"))]


def _entries(state: _Walk, prefix: str, absolute: str, folder_fd: int, entries: list[os.DirEntry[str]]) -> list[str]:
    """The hot loop (~1 µs an entry): regular files become FileStates unless known unchanged, the rest is classified.

    Kept as one flat loop with local names on purpose: a function call per
    entry would cost a sixth of the walk. A file's known signature is taken
    out of ``unseen`` and put back only if the file differs from it.
    """
    files, root, stat, unseen = state.files, state.root, state.stat, state.unseen
    take = unseen.pop
    same_bytes = 0
    subdirs: list[str] = []
    for entry in entries:
        name = entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(name)
                continue
            if entry.is_symlink():
                _symlink(state, prefix + name, f"{absolute}/{name}")
                continue
            st = stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except OSError as error:
            _entry_error(state, prefix + name, error)
            continue
        if st_.S_ISREG(st.st_mode):
            relative, size = prefix + name, st.st_size
            known = take(relative, None)
            if known is not None:
                if known[2] == size and known[3] == st.st_mtime_ns and known[4] == st.st_ino \
                        and known[5] == st.st_dev and known[6] == st.st_uid:
                    same_bytes += size
                    continue
                unseen[relative] = known
            files.append(FileState(root, relative, size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_uid))
        elif st_.S_ISDIR(st.st_mode):
            subdirs.append(name)  # replaced by a directory since the listing
        else:
            _odd_type(state, prefix + name, f"{absolute}/{name}", st)
    state.unchanged_bytes += same_bytes
    return subdirs


def _visit_dir(state: _Walk, relative: str, absolute: str) -> tuple[str, str, os.stat_result] | None:
    """Stat a subdirectory before visiting it: its mtime is needed, and it may have changed kind."""
    try:
        dir_st = state.stat(absolute, follow_symlinks=False)
    except OSError as error:
        _entry_error(state, relative, error)
        return None
    if st_.S_ISDIR(dir_st.st_mode):
        return (relative, absolute, dir_st)
    if st_.S_ISREG(dir_st.st_mode):
        s = dir_st
        state.files.append(FileState(state.root, relative, s.st_size, s.st_mtime_ns, s.st_ino, s.st_dev, s.st_uid))
    else:
        _odd_type(state, relative, absolute, dir_st)
    return None


def _odd_type(state: _Walk, relative: str, absolute: str, st: os.stat_result) -> None:
    if st_.S_ISLNK(st.st_mode):
        _symlink(state, relative, absolute)
    else:
        state.find(FindingKind.SPECIAL_FILE, relative, f"{_kind_name(st.st_mode)}: not catalogued, never opened")


def _kind_name(mode: int) -> str:
    kinds = {st_.S_IFIFO: "fifo", st_.S_IFSOCK: "socket", st_.S_IFCHR: "character device", st_.S_IFBLK: "block device"}
    return kinds.get(st_.S_IFMT(mode), f"file type {st_.S_IFMT(mode):o}")


_ERROR_KINDS = {
    errno.ENOENT: (FindingKind.VANISHED, "vanished during the walk"),
    errno.ENOTDIR: (FindingKind.VANISHED, "a parent was replaced during the walk"),
    errno.EACCES: (FindingKind.PERMISSION_DENIED, "permission denied"),
    errno.EPERM: (FindingKind.PERMISSION_DENIED, "operation not permitted"),
    errno.ENAMETOOLONG: (FindingKind.NAME_TOO_LONG, "path too long for the OS to stat or list"),
    errno.ELOOP: (FindingKind.SYMLINK_LOOP, "too many levels of symbolic links"),
}


def _finding_for(error: OSError) -> tuple[FindingKind, str]:
    default = (FindingKind.IO_ERROR, error.strerror or str(error))
    return _ERROR_KINDS.get(error.errno or 0, default)


def _entry_error(state: _Walk, relative: str, error: OSError) -> None:
    kind, message = _finding_for(error)
    state.find(kind, relative, message)


def _unreadable(state: _Walk, relative: str, error: OSError) -> None:
    """A directory that cannot be listed: its files are unknown, not missing (unless it vanished)."""
    kind, message = _finding_for(error)
    state.directories.pop(relative, None)
    if kind is not FindingKind.VANISHED:
        state.unreadable.add(relative)
    state.find(kind, relative or ".", f"folder not listed: {message}")


def _check_names(state: _Walk, prefix: str, unusual: list[str], entries: list[os.DirEntry[str]]) -> None:
    """Non-UTF-8 names and names equal under NFC, checked only for a folder's non-ASCII names.

    ASCII names are their own NFC form, but a non-ASCII name can normalise to
    an ASCII one (KELVIN SIGN -> K), so each group also takes its NFC form if
    that name exists. One finding per name that is not the group's NFC form.
    """
    names = {e.name for e in entries}
    groups: dict[str, set[str]] = {}
    for name in unusual:
        if not _is_utf8(name):
            state.find(FindingKind.NOT_UTF8, prefix + name, f"name is not UTF-8: {os.fsencode(name)!r}")
        nfc = unicodedata.normalize("NFC", name)
        groups.setdefault(nfc, {nfc} if nfc in names else set()).add(name)
    for nfc, group in groups.items():
        if len(group) > 1:
            for name in sorted(group - {nfc}):
                message = f"{name!a} equals {sorted(group - {name})!a} under NFC; macOS and Windows clients see one"
                state.find(FindingKind.UNICODE_NORMALIZATION, prefix + name, message)


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _symlink(state: _Walk, relative: str, absolute: str) -> None:
    """Classify a link without following it in the walk: outside the root, a loop, or recorded."""
    try:
        target = os.readlink(absolute)
    except OSError as error:
        _entry_error(state, relative, error)
        return
    finding = _link_finding(state, absolute, target)
    if finding is None:
        state.symlinks.append(Symlink(relative, target))
    else:
        state.find(finding[0], relative, finding[1])


def _link_finding(state: _Walk, absolute: str, target: str) -> tuple[FindingKind, str] | None:
    try:
        target_st = state.stat(absolute, follow_symlinks=True)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return (FindingKind.SYMLINK_LOOP, f"-> {target}: the link resolves to itself")
        target_st = None  # dangling: classify by where it points
    resolved = os.path.realpath(absolute)
    if not _inside(resolved, state.root_real):
        return (FindingKind.SYMLINK_OUTSIDE_ROOT, f"-> {target}: points outside the root; not followed")
    if target_st is not None and st_.S_ISDIR(target_st.st_mode):
        here = os.path.realpath(os.path.dirname(absolute))
        if _inside(here, resolved):
            return (FindingKind.SYMLINK_LOOP, f"-> {target}: points at its own ancestor folder")
    return None


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def stat_paths(
    root_name: str,
    root_path: str | os.PathLike[str],
    relatives: Iterable[str],
    *,
    stat: StatFn = os.stat,
) -> PathStates:
    """Re-observe specific root-relative paths (the watcher's dirty list) without walking.

    A path reached through a symlinked folder is treated as gone: the walk
    never descends into links, so the catalog must not hold files behind one.
    """
    root_abs = os.fspath(root_path)
    state = _Walk(root_name, os.path.realpath(root_abs), os.scandir, stat, time.time_ns() - SETTLE_NS)
    gone: set[str] = set()
    plain_parents: dict[str, bool] = {}
    for relative in relatives:
        _check_under(relative)
        parent = relative.rpartition("/")[0]
        if parent not in plain_parents:
            plain_parents[parent] = _plain_folder(state.root_real, root_abs, parent)
        if not plain_parents[parent] or _stat_one(state, relative, f"{root_abs}/{relative}") == "gone":
            gone.add(relative)
    return PathStates(tuple(state.files), state.directories, frozenset(gone), tuple(state.findings))


def _plain_folder(root_real: str, root_abs: str, parent: str) -> bool:
    """True if ``parent`` exists under the root with no symlink on the way."""
    absolute = _join(root_abs, parent)
    return os.path.realpath(absolute) == _join(root_real, parent) and os.path.isdir(absolute)


def _stat_one(state: _Walk, relative: str, absolute: str) -> str:
    """Observe one path: "file", "gone" (no regular file there), or "unknown" (a finding says why)."""
    try:
        st = state.stat(absolute, follow_symlinks=False)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return "gone"
        _entry_error(state, relative, error)
        return "unknown"
    if st_.S_ISDIR(st.st_mode):
        state.remember(relative, st.st_mtime_ns)
        return "gone"
    if not st_.S_ISREG(st.st_mode):
        _odd_type(state, relative, absolute, st)
        return "gone"
    state.files.append(FileState(state.root, relative, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_uid))
    return "file"
