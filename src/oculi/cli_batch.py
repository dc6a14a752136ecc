"""``oculi batch submit FILE.jsonl`` / ``oculi batch status ID``: batches of a running server, with a progress bar.

A client of the REST API (``/v1/files`` and ``/v1/batches``), so it works
against any oculi replica (or any server with the same API): ``submit``
uploads the JSONL file (purpose ``batch``), creates the batch and, unless
``--no-wait``, follows it with a rich progress bar until it ends; ``status``
shows one batch (and follows it with ``--wait``). ``--output`` saves the
output JSONL (and the errors next to it as ``<name>.errors.jsonl``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

batch_app = typer.Typer(no_args_is_help=True, help="Submit and follow batches on a running oculi server.")
out = Console()
err = Console(stderr=True)

FINAL = ("completed", "failed", "cancelled", "expired")

ServerOpt = Annotated[str, typer.Option("--server", envvar="OCULI_SERVER", help="The server's base URL.")]
KeyOpt = Annotated[str | None, typer.Option("--api-key", envvar="OCULI_API_KEY", help="API key for the server.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Save the output JSONL here when done.")]
IntervalOpt = Annotated[float, typer.Option("--interval", help="Seconds between status polls.")]


def client(server: str, api_key: str | None) -> httpx.Client:
    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120)


def checked(response: httpx.Response) -> Any:
    """The JSON body, or exit 2 with the server's error message."""
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        err.print(f"[red]error ({response.status_code}):[/red] {message}")
        raise typer.Exit(2)
    return response.json()


@batch_app.command()
def submit(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL: one request per line.")],
    endpoint: Annotated[str, typer.Option(help="/v1/chat/completions or /v1/responses.")] = "/v1/chat/completions",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the batch until it ends.")] = True,
    output: OutputOpt = None,
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
    interval: IntervalOpt = 1.0,
) -> None:
    """Upload FILE, create a batch from it, and follow it to the end."""
    with client(server, api_key) as http, file.open("rb") as content:
        uploaded = checked(http.post("/v1/files", files={"file": (file.name, content)}, data={"purpose": "batch"}))
        body = {"input_file_id": uploaded["id"], "endpoint": endpoint, "completion_window": "24h"}
        batch = checked(http.post("/v1/batches", json=body))
        out.print(f"batch [bold]{batch['id']}[/bold]: {batch['request_counts']['total']} requests, {batch['status']}")
        if wait:
            follow(http, batch, interval, output)


@batch_app.command()
def status(
    batch_id: Annotated[str, typer.Argument(help="The batch id (batch_...).")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the batch until it ends.")] = False,
    output: OutputOpt = None,
    server: ServerOpt = "http://127.0.0.1:8000",
    api_key: KeyOpt = None,
    interval: IntervalOpt = 1.0,
) -> None:
    """Show a batch's status and counts (``--wait``: follow it with a progress bar)."""
    with client(server, api_key) as http:
        batch = checked(http.get(f"/v1/batches/{batch_id}"))
        if wait:
            batch = follow(http, batch, interval, output)
        else:
            show(batch)
            if output is not None and batch["status"] in FINAL:
                save(http, batch, output)


def follow(http: httpx.Client, batch: dict[str, Any], interval: float, output: Path | None) -> dict[str, Any]:
    """Poll until the batch ends, drawing a progress bar of finished requests."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out) as progress:
        task = progress.add_task(batch["status"], total=batch["request_counts"]["total"])
        while True:
            counts = batch["request_counts"]
            done = counts["completed"] + counts["failed"]
            progress.update(task, completed=done, total=counts["total"], description=describe(batch))
            if batch["status"] in FINAL:
                break
            time.sleep(interval)
            batch = checked(http.get(f"/v1/batches/{batch['id']}"))
    show(batch)
    if output is not None:
        save(http, batch, output)
    return batch


def describe(batch: dict[str, Any]) -> str:
    counts = batch["request_counts"]
    return f"{batch['status']} ({counts['failed']} failed)"


def show(batch: dict[str, Any]) -> None:
    counts = batch["request_counts"]
    out.print(
        f"{batch['id']}: [bold]{batch['status']}[/bold] — {counts['completed']} succeeded, "
        f"{counts['failed']} failed, {counts['total']} total"
    )
    for label in ("output_file_id", "error_file_id"):
        if batch.get(label):
            out.print(f"  {label}: {batch[label]}")
    for error in (batch.get("errors") or {}).get("data") or []:
        out.print(f"  [red]line {error.get('line')}:[/red] {error['message']}")


def save(http: httpx.Client, batch: dict[str, Any], output: Path) -> None:
    """Write the output JSONL to ``output`` and the errors beside it."""
    targets = [("output_file_id", output), ("error_file_id", output.with_suffix(".errors.jsonl"))]
    for label, path in targets:
        if batch.get(label):
            response = http.get(f"/v1/files/{batch[label]}/content")
            if response.status_code >= 400:
                checked(response)
            path.write_bytes(response.content)
            out.print(f"  saved {label} to {path}")
