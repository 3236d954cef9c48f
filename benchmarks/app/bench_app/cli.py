"""`bench-app`: a small command-line program with the import cost of a real one.

It imports click, requests and rich, reads the three distributions' versions from their metadata
(which only works when every .dist-info is on the path), prepares (never sends) an HTTP request and
prints a short rich table. The last line, `bench-app ok`, is what the benchmark checks for.
"""

from __future__ import annotations

from importlib.metadata import version

import click
import requests
from rich.console import Console
from rich.table import Table

DISTRIBUTIONS = ("click", "requests", "rich")


def build_table(name: str) -> Table:
    table = Table(title=f"hello, {name}")
    table.add_column("distribution")
    table.add_column("version", justify="right")
    for distribution in DISTRIBUTIONS:
        table.add_row(distribution, version(distribution))
    return table


def prepared_request_line(name: str) -> str:
    prepared = requests.Request("GET", "https://example.invalid/greet", params={"name": name}).prepare()
    return f"{prepared.method} {prepared.url}"


@click.command()
@click.option("--name", default="world", show_default=True, help="Who to greet.")
def main(name: str) -> None:
    """Print a short table of the bundled libraries."""
    console = Console(width=60, force_terminal=False, color_system=None)
    console.print(build_table(name))
    console.print(prepared_request_line(name))
    console.print("bench-app ok")
