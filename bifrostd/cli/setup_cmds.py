"""``bifrostctl init``: write a studio config and the default templates, optionally a demo studio."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Also fill DIRECTORY with a small sample studio.")
@click.option("--force", is_flag=True, help="Overwrite an existing bifrost.yaml.")
def init(directory: Path, demo: bool, force: bool) -> int:
    """Write DIRECTORY/bifrost.yaml and DIRECTORY/templates/ (the default studio templates)."""
    from ..config import load_config
    from ..demo import create_demo_studio, write_studio_config
    from ..errors import ConfigError

    config_file = directory / "bifrost.yaml"
    if config_file.exists() and not force:
        raise ConfigError(f"{config_file} already exists; use --force to overwrite it")
    directory.mkdir(parents=True, exist_ok=True)
    write_studio_config(directory, demo=demo)
    click.echo(f"wrote {config_file} and {directory / 'templates'}")
    if demo:
        config = load_config(config_file.resolve())
        summary = create_demo_studio(directory, config.load_templates())
        click.echo(f"demo studio: {summary}")
    return 0
