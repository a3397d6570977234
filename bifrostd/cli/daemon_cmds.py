"""``bifrostctl daemon status|reload|stop``: talk to a running ``bifrostd`` over its control socket.

Thin: find the socket from the config's state folder, send one request,
render the answer. ``live_state`` is also what ``bifrostctl status`` shows
under ``daemon`` (None when no daemon runs).

These commands must work while ``bifrost.yaml`` is invalid (being edited,
or refused by a reload): the socket's place is then read from the file's
``state:`` key alone (``config.locate_state_dir``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from .output import emit_json, json_option

#: Seconds to wait for an answer; status is served without touching the catalog, so this is generous.
TIMEOUT = 5.0
#: The daemon's socket in the state folder (``control.SOCKET_NAME``, which a test compares): where there is
#: none, no daemon runs, and ``bifrostctl status`` says so without loading the control client.
SOCKET_NAME = "bifrostd.sock"


def daemon_client(obj, timeout: float = TIMEOUT):
    from ..daemon.control import ControlClient, client_path

    return ControlClient(client_path(state_dir(obj)), timeout=timeout)


def state_dir(obj) -> Path:
    """The state folder: the config's, or, while the config is invalid, what its ``state:`` key says."""
    from ..config import find_config, locate_state_dir
    from ..errors import ConfigError

    try:
        return obj.config().state_dir
    except ConfigError:
        return locate_state_dir(find_config(obj.config_path))


def live_state(obj) -> dict[str, Any] | None:
    """The running daemon's status document, or None when no daemon answers (never raises for that)."""
    from ..errors import DaemonUnreachable

    if not os.path.exists(state_dir(obj) / SOCKET_NAME):  # connecting would fail: DaemonUnreachable
        return None
    try:
        return daemon_client(obj, timeout=2.0).call("status")["status"]
    except DaemonUnreachable:
        return None


def describe_daemon(document: dict[str, Any]) -> str:
    from ..daemon.status import describe

    return describe(document)


@click.group()
def daemon() -> None:
    """Ask the running bifrostd for its state, or to reload or stop (exit code 13 when none runs)."""


@daemon.command("status")
@json_option
@click.pass_obj
def status(obj, as_json: bool) -> int:
    """Live state: uptime, roots with watch mode and watches, queue, last event, last full reconcile,
    overflow and error counts, template set and its validity."""
    document = daemon_client(obj).call("status")["status"]
    if as_json:
        emit_json(document.pop("schema", "bifrost.daemon-status.1"), document)
    else:
        click.echo(describe_daemon(document))
    return 0


@daemon.command("reload")
@click.pass_obj
def reload(obj) -> int:
    """Re-read the config and the template files (like SIGHUP). An invalid config is refused (exit code 3)
    and the daemon keeps the one it runs with; an invalid template set is reported by 'bifrostctl daemon
    status' and the daemon keeps the set it has."""
    daemon_client(obj).call("reload")
    click.echo("reload requested")
    return 0


@daemon.command("stop")
@click.option("--no-wait", is_flag=True, help="Return at once instead of waiting for the daemon to exit.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the daemon to exit.")
@click.pass_obj
def stop(obj, no_wait: bool, timeout: float) -> int:
    """Stop the daemon: it finishes the current batch and exits 0 (like SIGTERM)."""
    from ..errors import DaemonError
    from ..catalog.state_lock import holder_pid

    state = state_dir(obj)
    pid = daemon_client(obj).call("stop").get("pid")
    if no_wait:
        click.echo(f"stop requested (pid {pid})")
        return 0
    deadline = time.monotonic() + timeout
    while holder_pid(state) is not None:
        if time.monotonic() > deadline:
            raise DaemonError(f"bifrostd (pid {pid}) did not exit within {timeout:g} s")
        time.sleep(0.05)
    click.echo(f"stopped (pid {pid})")
    return 0
