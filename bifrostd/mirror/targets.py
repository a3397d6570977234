"""Mirror targets: one typed, frozen value per configured bucket, parsed from a plain dict.

A target says *where* (an fsspec URL and backend options), *how fast* (concurrency,
bandwidth, part size, timeouts, retries), *what* (include filters), *what happens
to deletions* and *when* (schedule). Parsing is strict: an unknown or misspelt
option, a bad size or a credential in the config is a problem naming the target
and the option (and, from the config, file, line and key); every problem of
every target is reported at once, in one ``MirrorTargetError`` or, from the
config, with the other sections' problems.

Credentials never appear in a target: an option at any depth whose name says
it holds one (``SSECustomerKey``, ``client_secret``, ``sas_token``), a URL with
a user or password before its host, or text carrying a key or signature is
refused, and the error names the option, never its value. The backends read
credentials from their standard chains (``AWS_*`` variables and profiles,
instance identity, gcloud application default credentials, ``AZURE_STORAGE_*``
variables or a managed identity). That keeps secrets out of the studio config,
the catalog and the logs; tests pass emulator credentials the same way, through
the environment.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from bifrostd.config import parse_duration, parse_size
from bifrostd.errors import MirrorTargetError
from bifrostd.redaction import SECRET_VALUE, redact_credentials
from bifrostd.templates.source import Located, SourceProblem, Where, did_you_mean

__all__ = [
    "DeleteLimit",
    "DeletePolicy",
    "Include",
    "Target",
    "TargetSchedule",
    "parse_target",
    "parse_targets",
    "read_targets",
    "redact_options",
]

PROTOCOLS = {"s3": "s3", "gs": "gs", "gcs": "gs", "az": "az", "abfs": "az", "file": "file"}
MIB = 1 << 20
S3_MIN_PART = 5 * MIB
GCS_CHUNK_MULTIPLE = 256 * 1024

#: Option names that hold a secret, compared after lower-casing and dropping ``-`` and ``_``.
_SECRET_NAMES = frozenset(
    name.replace("_", "")
    for name in (
        "key", "secret", "token", "password", "passwd", "account_key", "accountkey",
        "connection_string", "sas_token", "sas", "client_secret", "credential", "credentials",
        "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "session_token",
        "access_key", "secret_key", "private_key", "service_account_key", "username",
        "api_key", "apikey", "access_token", "refresh_token", "private_key_id",
    )
)
#: The last word of an option name that makes it a secret (``SSECustomerKey``, ``client_secret``,
#: ``sas_token``, an ``Authorization`` header). Only the last: ``SSEKMSKeyId`` names a key, not its
#: material, and ``BucketKeyEnabled`` is a switch.
_SECRET_WORDS = frozenset((
    "key", "secret", "token", "password", "passwd", "pwd", "passphrase", "credential", "credentials",
    "signature", "sas", "authorization", "cookie",
))
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: A URL with userinfo: ``https://KEY:secret@host``, or ``https://token@host``.
_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@]*@")


class DeletePolicy(str, Enum):
    """What a local deletion does to the mirrored object."""

    KEEP = "keep"  # objects stay forever: the bucket is an archive
    MIRROR = "mirror"  # objects are deleted with the file
    RETAIN = "retain"  # objects are deleted ``retain_days`` after the file


#: A percentage limit never holds back a run of this many deletions or fewer (a small target's ordinary cleanup).
PERCENT_FLOOR = 100


@dataclass(frozen=True, slots=True)
class DeleteLimit:
    """How many deletions one run may make before it holds them all back (``max_delete``).

    A guard against a mass deletion reaching the bucket: a share unmounted in a
    way the walk can't tell from deletion, a project removed by mistake, an
    ``include`` filter narrowed by an edit. All or nothing: deleting part of a
    mistaken mass deletion would still lose backups. Neither field set means
    no limit.
    """

    count: int | None = None
    percent: float | None = None

    def allowed(self, objects: int) -> int | None:
        """The most deletions a run may make at a target holding ``objects``; None: any number."""
        if self.count is not None:
            return self.count
        if self.percent is not None:
            return max(PERCENT_FLOOR, int(objects * self.percent / 100))
        return None

    def describe(self) -> str:
        if self.count is not None:
            return f"{self.count:,} objects"
        if self.percent is not None:
            return f"{self.percent:g} % of the objects (at least {PERCENT_FLOOR})"
        return "unlimited"


@dataclass(frozen=True, slots=True)
class Include:
    """Which catalogued files go to the target; an empty tuple means "all"."""

    roots: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetSchedule:
    """Exactly one of ``interval`` (seconds) or ``cron`` (five fields or ``@hourly`` etc.)."""

    interval: float | None = None
    cron: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    url: str
    protocol: str  # normalised: s3 | gs | az | file
    root: str  # the fsspec path of the URL: "bucket/prefix" or "/abs/dir"
    endpoint_url: str | None = None
    region: str | None = None
    storage_class: str | None = None
    profile: str | None = None
    anonymous: bool = False
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    concurrency: int = 8
    bandwidth: int | None = None  # bytes per second, for the whole target
    part_size: int = 16 * MIB
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 4
    backoff: float = 0.5  # seconds before the first retry; doubles, with jitter
    include: Include = field(default_factory=Include)
    delete: DeletePolicy = DeletePolicy.KEEP
    retain_days: int | None = None
    max_delete: DeleteLimit = field(default_factory=lambda: DeleteLimit(percent=10.0))
    schedule: TargetSchedule | None = None

    def path_for(self, key: str) -> str:
        """The fsspec path of a key (a POSIX path relative to the target's root)."""
        return f"{self.root.rstrip('/')}/{key}" if self.root.strip("/") else f"{self.root}{key}"

    def key_for(self, path: str) -> str | None:
        """The key of an fsspec path under the root, or None for a path outside it."""
        prefix = self.root.rstrip("/") + "/"
        return path[len(prefix):] if path.startswith(prefix) else None

    def __repr__(self) -> str:
        return (
            f"Target(name={self.name!r}, url={redact_credentials(self.url)!r}, endpoint_url="
            f"{redact_credentials(self.endpoint_url or '')!r}, options={redact_options(self.options)!r}, "
            f"concurrency={self.concurrency}, part_size={self.part_size})"
        )


# -- parsing ------------------------------------------------------------------------------

_OPTIONS = (
    "url", "endpoint_url", "region", "storage_class", "profile", "anonymous", "options",
    "concurrency", "bandwidth", "part_size", "timeout", "connect_timeout", "read_timeout",
    "retries", "backoff", "include", "delete", "retain_days", "max_delete", "schedule",
)
_INCLUDE = ("roots", "templates", "kinds")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_MAX = (59, 23, 31, 12, 7)
_CRON_NAMES = re.compile(r"^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)$", re.I)
_CRON_FIELD = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/\d+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/\d+)?)*$", re.IGNORECASE)


def parse_targets(section: Mapping[str, Any]) -> dict[str, Target]:
    """All targets of the config's ``mirror.targets`` mapping (or a bare ``name -> dict`` mapping).

    Raises one ``MirrorTargetError`` listing every problem of every target.
    """
    targets, problems = _read_targets(section, Located({}, _NOWHERE))
    if problems:
        raise MirrorTargetError("\n".join(str(p) for p in problems))
    return targets


def read_targets(section: Any, node: Located) -> tuple[dict[str, Target], list[SourceProblem]]:
    """(the valid targets, every problem of every target) of a ``mirror`` section, without raising.

    ``node`` is the section as read, with positions (``Config.located``):
    each problem names file, line, column and the dotted key
    (``mirror.targets.vault.bandwidth``).
    """
    targets, problems = _read_targets(section, node)
    return targets, [p.located() for p in problems]


def parse_target(name: str, raw: Mapping[str, Any]) -> Target:
    """One target from its config mapping; raises one ``MirrorTargetError`` listing every problem."""
    target, problems = _read_target(name, raw, Located({}, _NOWHERE), "mirror.targets")
    if target is None:
        raise MirrorTargetError("\n".join(str(p) for p in problems))
    return target


_NOT_TARGETS = "must be a mapping of target names to settings"
#: The position of problems in targets given as plain values (never shown: their text names target and option).
_NOWHERE = Where("<mirror>", 1, 1)


@dataclass(frozen=True, slots=True)
class _TargetProblem:
    """One problem in the ``mirror`` section: the target, the option (dotted, "" for the target itself), where."""

    target: str
    option: str
    message: str
    hint: str
    where: Where
    prefix: str  # the target's section: "mirror.targets", or "mirror" for a bare mapping of targets

    def __str__(self) -> str:
        head = f"mirror target {self.target!r}: " if self.target else f"{self.prefix}: "
        text = f"{head}{self.option}: {self.message}" if self.option else f"{head}{self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def located(self) -> SourceProblem:
        """The problem as the config reports it: file:line:column, dotted key."""
        key = ".".join(part for part in (self.prefix, self.target, self.option) if part)
        return SourceProblem(self.where, key, self.message, self.hint)


def _read_targets(section: Any, node: Located) -> tuple[dict[str, Target], list[_TargetProblem]]:
    if not isinstance(section, Mapping):
        return {}, [_TargetProblem("", "", _NOT_TARGETS, "", node.where, "mirror")]
    prefix, targets = "mirror", section
    if "targets" in section:
        prefix, targets = "mirror.targets", section["targets"]
        entry = node.value.get("targets") if isinstance(node.value, dict) else None
        node = entry[1] if entry else node
    if not isinstance(targets, Mapping):
        return {}, [_TargetProblem("", "", _NOT_TARGETS, "", node.where, prefix)]
    found: dict[str, Target] = {}
    problems: list[_TargetProblem] = []
    for name, raw in targets.items():
        target, wrong = _read_target(str(name), raw, node, prefix)
        problems.extend(wrong)
        if target is not None:
            found[str(name)] = target
    return found, problems


def _read_target(name: str, raw: Any, section: Located, prefix: str) -> tuple[Target | None, list[_TargetProblem]]:
    """(the target, or None when it has problems; its problems). ``section`` holds the target, with positions."""
    parser = _Parser(name, raw if isinstance(raw, Mapping) else {}, section, prefix)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
        parser.fail("", "names are letters, digits, '-', '_' and '.'", at_key=True)
    if not isinstance(raw, Mapping):
        parser.fail("", "settings must be a mapping")
        return None, parser.problems
    secrets = _find_secrets(raw, "")
    for path, message in secrets:
        parser.fail(path, message, at_key=True)
    for option in raw:
        if option not in _OPTIONS and not is_secret_name(option):  # a secret's name was just reported
            parser.fail(str(option), "unknown option", did_you_mean(str(option), _OPTIONS), at_key=True)
    if secrets:  # the other checks quote values, and one of them may be the secret
        return None, parser.problems
    target = parser.target()
    return (None if parser.problems else target), parser.problems


class _Parser:
    """Reads one target's options. A bad option is recorded with the target, the option and where it is
    written, and its default is used in its place, so that every other option is still checked."""

    def __init__(self, name: str, raw: Mapping[str, Any], section: Located, prefix: str) -> None:
        self.name = name
        self.raw = raw
        self.section = section
        self.prefix = prefix
        self.problems: list[_TargetProblem] = []

    def fail(self, option: str, problem: str, hint: str = "", *, at_key: bool = False) -> None:
        keys = (self.name, *_dotted(option))
        where = self.section.position(keys, key=at_key)
        self.problems.append(_TargetProblem(self.name, option, problem, hint, where, self.prefix))

    def target(self) -> Target:
        protocol, root = self.url()
        part_size = self.size("part_size", 16 * MIB) or 16 * MIB
        self.check_part_size(protocol, part_size)
        delete, retain_days = self.delete()
        connect, read = self.timeouts()
        storage_class = self.text("storage_class")
        if storage_class and protocol not in ("s3", None):
            self.fail("storage_class", "only s3 targets take a per-object class; set the bucket's default class")
        if self.raw.get("endpoint_url") and protocol not in ("s3", "gs", None):
            self.fail("endpoint_url", "only s3 and gs targets take an endpoint; for az use options.account_name "
                      "(or AZURE_STORAGE_CONNECTION_STRING in the environment)")
        return Target(
            name=self.name, url=str(self.raw.get("url")), protocol=protocol or "file", root=root,
            endpoint_url=self.text("endpoint_url"), region=self.text("region"),
            storage_class=storage_class, profile=self.text("profile"),
            anonymous=self.flag("anonymous"), options=self.options(),
            concurrency=self.integer("concurrency", 8, minimum=1, maximum=256),
            bandwidth=self.size("bandwidth", None), part_size=part_size,
            connect_timeout=connect, read_timeout=read,
            retries=self.integer("retries", 4, minimum=0, maximum=20),
            backoff=self.seconds("backoff", 0.5),
            include=self.include(), delete=delete, retain_days=retain_days,
            max_delete=self.max_delete(delete), schedule=self.schedule(),
        )

    def url(self) -> tuple[str | None, str]:
        """(protocol, root); (None, "/") when the URL is invalid, so checks that depend on the protocol are skipped."""
        url = self.raw.get("url")
        if not isinstance(url, str) or "://" not in url:
            self.fail("url", "required: an fsspec URL such as s3://bucket/prefix, gs://, az:// or file:///dir")
            return None, "/"
        scheme, rest = url.split("://", 1)
        protocol = PROTOCOLS.get(scheme.lower())
        problem = _url_problem(protocol, scheme, url, rest)
        if problem:
            self.fail("url", problem)
            return None, "/"
        if protocol == "file":
            return protocol, posixpath.normpath("/" + rest.strip("/")) if rest.strip("/") else "/"
        return protocol, rest.strip("/")

    def check_part_size(self, protocol: str | None, part_size: int) -> None:
        if protocol == "s3" and not S3_MIN_PART <= part_size <= 5 << 30:
            self.fail("part_size", "S3 parts are 5 MiB to 5 GiB")
        elif protocol == "gs" and part_size % GCS_CHUNK_MULTIPLE:
            self.fail("part_size", "GCS resumable chunks are a multiple of 256 KiB")
        elif part_size < MIB or part_size > 5 << 30:
            self.fail("part_size", "between 1 MiB and 5 GiB")

    def text(self, option: str) -> str | None:
        value = self.raw.get(option)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(option, "must be a non-empty string")
            return None
        return value.strip()

    def flag(self, option: str) -> bool:
        value = self.raw.get(option, False)
        if not isinstance(value, bool):
            self.fail(option, "must be true or false")
            return False
        return value

    def integer(self, option: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.raw.get(option, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(option, f"must be a whole number from {minimum} to {maximum}")
            return default
        return value

    def size(self, option: str, default: int | None) -> int | None:
        value = self.raw.get(option, default)
        if value is None:
            return None
        try:
            size = parse_size(value)
        except ValueError:
            self.fail(option, f"{value!r} is not a size such as 16777216, '16MiB' or '50 MB/s'")
            return default
        if size <= 0:
            self.fail(option, "must be positive")
            return default
        return size

    def seconds(self, option: str, default: float) -> float:
        try:
            return parse_duration(self.raw.get(option, default))
        except ValueError:
            self.fail(option, "must be a duration such as 30, '30s', '15m' or '24h'")
            return default

    def timeouts(self) -> tuple[float, float]:
        timeout = None if self.raw.get("timeout") is None else self.seconds("timeout", 10.0)
        connect = self.seconds("connect_timeout", 10.0 if timeout is None else timeout)
        read = self.seconds("read_timeout", 60.0 if timeout is None else timeout)
        if connect <= 0 or read <= 0:
            option = next(o for o, v in (("connect_timeout", connect), ("read_timeout", read)) if v <= 0)
            self.fail(option if option in self.raw else "timeout",
                      "timeouts must be positive; a backend without one can wait forever")
            return 10.0, 60.0
        return connect, read

    def options(self) -> Mapping[str, Any]:
        value = self.raw.get("options", {})
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.fail("options", "must be a mapping of backend option names to values")
            return MappingProxyType({})
        return MappingProxyType(dict(value))

    def include(self) -> Include:
        value = self.raw.get("include", {})
        if not isinstance(value, Mapping):
            self.fail("include", "must be a mapping with roots, templates and/or kinds")
            return Include()
        for option in value:
            if option not in _INCLUDE:
                self.fail(f"include.{option}", "unknown filter", did_you_mean(str(option), _INCLUDE), at_key=True)
        return Include(**{option: self.names(f"include.{option}", value.get(option)) for option in _INCLUDE})

    def names(self, option: str, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            self.fail(option, "must be a name or a list of names")
            return ()
        return tuple(value)

    def delete(self) -> tuple[DeletePolicy, int | None]:
        value = self.raw.get("delete", "keep")
        try:
            policy = DeletePolicy(value)
        except ValueError:
            self.fail("delete", f"{value!r} is not one of keep, mirror, retain")
            return DeletePolicy.KEEP, None
        days = self.raw.get("retain_days")
        if policy is DeletePolicy.RETAIN:
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                self.fail("retain_days", "delete: retain needs retain_days, a whole number of days >= 1")
                return policy, 1
            return policy, days
        if days is not None:
            self.fail("retain_days", "only meaningful with delete: retain")
        return policy, None

    def max_delete(self, policy: DeletePolicy) -> DeleteLimit:
        value = self.raw.get("max_delete")
        if value is None:
            return DeleteLimit(percent=10.0)
        if policy is DeletePolicy.KEEP:
            if "delete" not in self.raw or self.raw.get("delete") == "keep":  # not when delete itself was wrong
                self.fail("max_delete", "only meaningful with delete: mirror or retain")
            return DeleteLimit(percent=10.0)
        if value == "unlimited":
            return DeleteLimit()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return DeleteLimit(count=value)
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value) if isinstance(value, str) else None
        if found and 0 < float(found.group(1)) <= 100:
            return DeleteLimit(percent=float(found.group(1)))
        self.fail("max_delete", f"{value!r} is not a number of objects (500), a percentage of the target's "
                  "objects ('10%') or 'unlimited'")
        return DeleteLimit(percent=10.0)

    def schedule(self) -> TargetSchedule | None:
        value = self.raw.get("schedule")
        if value is None:
            return None
        if isinstance(value, str) and (value.strip().startswith("@") or len(value.split()) == 5):
            return TargetSchedule(cron=self.cron(value.strip()))
        try:
            interval = parse_duration(value)
        except ValueError:
            interval = 0.0
        if interval < 1:
            self.fail("schedule", "an interval of at least 1 second, such as 15m or 24h, or a cron expression")
            return None
        return TargetSchedule(interval=interval)

    def cron(self, value: str) -> str:
        if value.startswith("@"):
            if value.lower() not in _CRON_MACROS:
                self.fail("schedule", f"unknown cron macro {value!r}; use one of {', '.join(_CRON_MACROS)}")
            return value.lower()
        fields = value.split()
        if not all(_CRON_FIELD.match(part) and _cron_in_range(part, top) for part, top in zip(fields, _CRON_MAX)):
            self.fail("schedule", f"{value!r} is not a five-field cron expression "
                      "(minute hour day-of-month month day-of-week)")
        return " ".join(fields)


def _url_problem(protocol: str | None, scheme: str, url: str, rest: str) -> str:
    """What is wrong with a target's URL, or an empty string."""
    if protocol is None:
        return f"unsupported scheme {scheme!r}; use one of s3, gs, az, file"
    if "@" in rest.split("/", 1)[0] or "?" in rest:
        return "must not carry credentials or query parameters; use the environment or profiles"
    if protocol == "file":
        return "" if rest.startswith("/") else "file URLs need an absolute path: file:///srv/mirror"
    root = rest.strip("/")
    if not root or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]", root.split("/", 1)[0]):
        return f"{url!r} has no valid bucket or container name"
    if "//" in root or any(part in (".", "..") for part in root.split("/")):
        return "the prefix must not contain empty, '.' or '..' segments"
    return ""


def _dotted(option: str) -> tuple[str, ...]:
    """An option's path of keys: ``include.roots`` and ``options.list[0].key`` (indexes are not mapping keys)."""
    return tuple(part for part in re.split(r"\.|\[\d+\]", option) if part) if option else ()


def _cron_in_range(field: str, top: int) -> bool:
    """Numbers within the field's range; names (jan, mon) only where cron accepts them."""
    for token in re.split(r"[,/-]", field):
        if token == "*" or (token.isdigit() and int(token) <= top):
            continue
        if top in (12, 7) and _CRON_NAMES.match(token):
            continue
        return False
    return True


# -- secrets ---------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    """Whether an option called ``name`` holds a secret: a known name, a connection string, or a name
    whose last word is one of _SECRET_WORDS, in any case or spelling (``SSECustomerKey``, ``sse_customer_key``)."""
    normal = str(name).lower().replace("_", "").replace("-", "")
    if normal in _SECRET_NAMES or "connectionstring" in normal:
        return True
    words = _WORDS.findall(str(name))
    return bool(words) and words[-1].lower() in _SECRET_WORDS


def _find_secrets(raw: Any, where: str) -> list[tuple[str, str]]:
    """Every credential in a target's settings, however deeply nested: (the option's path, why), never the value."""
    if isinstance(raw, Mapping):
        found: list[tuple[str, str]] = []
        for option, value in raw.items():
            path = f"{where}.{option}" if where else str(option)
            if is_secret_name(option):
                found.append((path, "credentials do not belong in the config; "
                              "use the backend's environment variables, profiles or instance identity"))
            else:
                found.extend(_find_secrets(value, path))
        return found
    if isinstance(raw, (list, tuple)):
        return [item for index, value in enumerate(raw) for item in _find_secrets(value, f"{where}[{index}]")]
    if isinstance(raw, str) and _URL_USERINFO.search(raw):
        return [(where, "a URL with a user or password before its host carries credentials, which do not belong in "
                 "the config; use the backend's environment variables, profiles or instance identity")]
    if isinstance(raw, str) and SECRET_VALUE.search(raw):
        return [(where, "looks like a connection string or signed URL with a secret; "
                 "use the environment (e.g. AZURE_STORAGE_CONNECTION_STRING) instead")]
    return []


def redact_options(options: Any) -> Any:
    """A copy of backend options safe to log: secret-named values and secret-looking text masked."""
    if isinstance(options, Mapping):
        return {k: "***" if is_secret_name(k) else redact_options(v) for k, v in options.items()}
    if isinstance(options, (list, tuple)):
        return type(options)(redact_options(v) for v in options)
    if isinstance(options, str):
        return redact_credentials(options)
    return options
