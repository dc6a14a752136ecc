"""The ``oculi`` command: serve, ask, tokens, models, batch (``cli_batch.py``).

Flags map one-to-one onto ``Settings`` fields (and so onto ``OCULI_*`` env
vars and the config file); a flag given on the command line wins.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from oculi.cli_batch import batch_app
from oculi.domain import Conversation, Detail, GenerationParams, ImagePart, Message, Role, TextPart
from oculi.errors import OculiError
from oculi.intake.types import TILE_SIZE
from oculi.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="oculi: self-hosted image understanding API.")
app.add_typer(batch_app, name="batch")
err = Console(stderr=True)

ModelOpt = Annotated[list[str] | None, typer.Option("--model", "-m", help=Settings.model_fields["models"].description)]
DetailOpt = Annotated[Detail, typer.Option("--detail", "-d", help="Image detail: auto, low or high.")]
AutoDetailOpt = Annotated[
    str | None, typer.Option("--auto-detail", help=Settings.model_fields["auto_detail"].description)
]
AllowOpt = Annotated[
    list[str] | None, typer.Option("--fetch-allow", help=Settings.model_fields["fetch_allow"].description)
]


def _help(field: str) -> str | None:
    """A flag's help: the description of its ``Settings`` field."""
    return Settings.model_fields[field].description


def build_settings(**flags: Any) -> Settings:
    """Settings from env/config with the flags that were given on top."""
    return Settings(**{k: v for k, v in flags.items() if v not in (None, [])})


def fail(exc: OculiError) -> None:
    err.print(f"[red]error ({exc.code}):[/red] {exc.message}")
    raise typer.Exit(2)


def image_part(source: str, detail: Detail) -> ImagePart:
    """An image part for a local file (sent as a data URL) or an http(s)/data URL."""
    if source.startswith(("http://", "https://", "data:")):
        return ImagePart(source, detail)
    path = Path(source)
    if not path.is_file():
        err.print(f"[red]error:[/red] no such image file: {source}")
        raise typer.Exit(2)
    return ImagePart("data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode(), detail)


@app.command()
def serve(
    model: ModelOpt = None,
    mmproj: Annotated[list[str] | None, typer.Option(help=Settings.model_fields["mmproj"].description)] = None,
    host: Annotated[str | None, typer.Option(help=Settings.model_fields["host"].description)] = None,
    port: Annotated[int | None, typer.Option(help=Settings.model_fields["port"].description)] = None,
    grpc_port: Annotated[int | None, typer.Option(help=Settings.model_fields["grpc_port"].description)] = None,
    api_key: Annotated[list[str] | None, typer.Option(help=Settings.model_fields["api_keys"].description)] = None,
    store: Annotated[str | None, typer.Option(help=Settings.model_fields["store_url"].description)] = None,
    fetch_allow: AllowOpt = None,
    device: Annotated[str | None, typer.Option(help=Settings.model_fields["device"].description)] = None,
    dtype: Annotated[str | None, typer.Option(help=Settings.model_fields["dtype"].description)] = None,
    log_json: Annotated[bool | None, typer.Option(help=Settings.model_fields["log_json"].description)] = None,
    engine: Annotated[str | None, typer.Option(help=Settings.model_fields["engine"].description)] = None,
    max_batch_size: Annotated[int | None, typer.Option(help=_help("max_batch_size"))] = None,
    reasoning_parser: Annotated[str | None, typer.Option(help=_help("reasoning_parser"))] = None,
    tensor_parallel_size: Annotated[int | None, typer.Option(help=_help("vllm_tensor_parallel_size"))] = None,
    pipeline_parallel_size: Annotated[int | None, typer.Option(help=_help("vllm_pipeline_parallel_size"))] = None,
    data_parallel_size: Annotated[int | None, typer.Option(help=_help("vllm_data_parallel_size"))] = None,
    distributed_executor_backend: Annotated[
        str | None, typer.Option(help=_help("vllm_distributed_executor_backend"))
    ] = None,
    gpu_memory_utilization: Annotated[float | None, typer.Option(help=_help("vllm_gpu_memory_utilization"))] = None,
    max_model_len: Annotated[int | None, typer.Option(help=_help("vllm_max_model_len"))] = None,
    quantization: Annotated[str | None, typer.Option(help=_help("vllm_quantization"))] = None,
    enforce_eager: Annotated[bool | None, typer.Option(help=_help("vllm_enforce_eager"))] = None,
    prefix_caching: Annotated[bool | None, typer.Option(help=_help("vllm_prefix_caching"))] = None,
    vllm_arg: Annotated[list[str] | None, typer.Option(help=_help("vllm_args"))] = None,
    auto_detail: AutoDetailOpt = None,
) -> None:
    """Serve the HTTP (OpenAI/xAI) and gRPC (xai-sdk) APIs."""
    from oculi.server import serve as run_server

    settings = build_settings(
        models=model, mmproj=mmproj, host=host, port=port, grpc_port=grpc_port, api_keys=api_key,
        store_url=store, fetch_allow=fetch_allow, device=device, dtype=dtype, log_json=log_json,
        engine=engine, max_batch_size=max_batch_size, vllm_tensor_parallel_size=tensor_parallel_size,
        vllm_pipeline_parallel_size=pipeline_parallel_size, vllm_data_parallel_size=data_parallel_size,
        vllm_distributed_executor_backend=distributed_executor_backend,
        vllm_gpu_memory_utilization=gpu_memory_utilization, vllm_max_model_len=max_model_len,
        vllm_quantization=quantization, vllm_enforce_eager=enforce_eager, vllm_prefix_caching=prefix_caching,
        vllm_args=vllm_arg, reasoning_parser=reasoning_parser, auto_detail=auto_detail,
    )  # fmt: skip
    try:
        asyncio.run(run_server(settings))
    except OculiError as exc:  # a configuration or model problem found at start: say it, no traceback
        fail(exc)


@app.command()
def ask(
    args: Annotated[list[str], typer.Argument(help="IMAGE... QUESTION: image files or URLs, then the question.")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model id, path or hub id.")] = None,
    detail: DetailOpt = Detail.AUTO,
    stream: Annotated[bool, typer.Option(help="Print tokens as they come.")] = True,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens to generate.")] = None,
    fetch_allow: AllowOpt = None,
    auto_detail: AutoDetailOpt = None,
) -> None:
    """Ask a question about local images or image URLs, from the terminal."""
    if not args:
        err.print("[red]error:[/red] give the question as the last argument")
        raise typer.Exit(2)
    *sources, question = args
    settings = build_settings(
        models=[model] if model else None, fetch_allow=fetch_allow, store_url="", auto_detail=auto_detail
    )
    parts = [image_part(s, detail) for s in sources]
    conversation = Conversation([Message(Role.USER, [*parts, TextPart(question)])])
    try:
        asyncio.run(_ask(settings, conversation, GenerationParams(max_tokens=max_tokens, temperature=0), stream))
    except OculiError as exc:
        fail(exc)


async def _ask(settings: Settings, conversation: Conversation, params: GenerationParams, stream: bool) -> None:
    from oculi.runtime import Runtime
    from oculi.service.generate import GenerationRequest

    runtime = await Runtime.open(settings, run_jobs=False)
    try:
        request = GenerationRequest(runtime.registry.default.info.id, conversation, params, surface="cli")
        run = await runtime.generator.start(request)
        async for delta in run:
            if stream:
                sys.stdout.write(delta.text)
                sys.stdout.flush()
        assert run.completion is not None
        if not stream:
            sys.stdout.write(run.completion.choices[0].text)
        sys.stdout.write("\n")
        sys.stdout.flush()
        u = run.completion.usage
        err.print(
            f"[dim]model {run.model} · prompt {u.prompt_tokens} tokens ({u.prompt_image_tokens} image) · "
            f"completion {u.completion_tokens} · finish {run.completion.choices[0].finish_reason}[/dim]"
        )
    finally:
        await runtime.close()


@app.command()
def tokens(
    image: Annotated[str, typer.Argument(help="Image file or URL.")],
    detail: DetailOpt = Detail.AUTO,
    fetch_allow: AllowOpt = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Count for this model (hub id or checkpoint directory): its view size."),
    ] = None,
    auto_detail: AutoDetailOpt = None,
    question: Annotated[
        str | None, typer.Option("--question", "-q", help="The question the image goes with (content policy).")
    ] = None,
) -> None:
    """Count the image tokens of an image (SPEC §3) without running a model."""
    from oculi.intake.pipeline import Intake

    settings = build_settings(fetch_allow=fetch_allow, auto_detail=auto_detail)
    view = view_of(model, settings) if model else f"{TILE_SIZE}×{TILE_SIZE} px (SPEC §3)"

    async def plan() -> Any:
        intake = Intake(settings)
        try:
            return await intake.plan(image_part(image, detail), question=question or "")
        finally:
            await intake.aclose()

    try:
        prepared = asyncio.run(plan())
    except OculiError as exc:
        fail(exc)
    p = prepared.plan
    table = Table(show_header=False, box=None)
    table.add_row("image", image)
    table.add_row("size", f"{prepared.width}×{prepared.height} ({prepared.mime})")
    table.add_row("detail", f"{detail.value} → {p.detail.value} ({prepared.reason})")
    table.add_row("grid", f"{p.cols}×{p.rows} (cols×rows)")
    table.add_row("tiles", f"{p.tiles} + {'1 thumbnail' if p.thumbnail else 'no thumbnail'} = {p.views} views")
    table.add_row("view", view)
    table.add_row("image tokens", str(p.image_tokens))
    Console().print(table)


def view_of(model: str, settings: Settings) -> str:
    """What one view of ``model`` is: its family's view size, or why its counts are not SPEC §3's."""
    from transformers import AutoConfig

    from oculi import families
    from oculi.engines import llamacpp
    from oculi.engines.common.checkpoint import resolve_checkpoint

    if llamacpp.handles(model):
        from oculi.engines.llamacpp.files import read_gguf_metadata, resolve_model_files
        from oculi.engines.llamacpp.projector import projector_family

        try:
            _, mmproj = resolve_model_files(model, None, settings)
            projector = str(read_gguf_metadata(mmproj, {"clip.projector_type"}).get("clip.projector_type"))
        except OculiError as exc:
            fail(exc)
        gguf = projector_family(projector)
        if gguf is None:
            return f"not a SPEC §3 family (projector {projector}): llama.cpp's mtmd decides its image tokens"
        return f"{gguf.view_size}×{gguf.view_size} px ({gguf.name}, GGUF)"
    try:
        config = AutoConfig.from_pretrained(resolve_checkpoint(model, settings))
    except OculiError as exc:
        fail(exc)
    family = families.match(config)
    if family is None:
        return f"not a SPEC §3 family ({config.model_type}): the model's processor decides its image tokens"
    return f"{family.view_size}×{family.view_size} px ({family.name})"


@app.command()
def models() -> None:
    """List the models oculi would serve (settings) and vision models in the local hub cache."""
    from oculi.engines import llamacpp

    settings = Settings()
    table = Table("model", "engine", "source")
    for spec in settings.model_specs():
        engine = "oculi-lite" if spec == "oculi-lite" else "llama.cpp" if llamacpp.handles(spec) else "transformers"
        table.add_row(spec, engine, "configured (default)" if spec == settings.model_specs()[0] else "configured")
    try:
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir().repos:
            if repo.repo_type == "model":
                table.add_row(repo.repo_id, "transformers", f"hub cache ({repo.size_on_disk_str})")
    except Exception:  # no cache dir yet: nothing cached to list
        pass
    Console().print(table)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
