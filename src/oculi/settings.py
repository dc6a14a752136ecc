"""The one settings model: CLI flags, ``OCULI_*`` env vars and a TOML config file.

Precedence: CLI flags (passed as init kwargs by ``cli.py``) > environment >
config file (``$OCULI_CONFIG`` or ``./oculi.toml``) > defaults. List settings
accept comma-separated strings in the environment (``OCULI_API_KEYS=a,b``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MiB = 1024 * 1024
LITE_MODEL = "oculi-lite"


def default_data_dir() -> Path:
    """Where the default SQLite store lives: ``$XDG_DATA_HOME/oculi`` (``~/.local/share/oculi``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "oculi"


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Every knob of an oculi server. Each field documents itself in ``oculi serve --help``."""

    model_config = SettingsConfigDict(env_prefix="OCULI_", extra="ignore")

    # --- models -----------------------------------------------------------------
    models: CommaList = Field(
        default_factory=list,
        description="Models to serve: hub ids or local paths (a .gguf file for llama.cpp). "
        f"The first is the default. Empty: the built-in '{LITE_MODEL}'.",
    )
    mmproj: CommaList = Field(
        default_factory=list, description="Multimodal projector .gguf files, one per .gguf model, in order."
    )
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="Extra model-name aliases {alias: model id}. Every 'grok-*' name maps to the default model.",
    )
    device: str = Field("auto", description="Torch device for the transformers engine: auto, cpu, cuda, mps.")
    dtype: str = Field(
        "auto", description="Weights dtype for the transformers and vLLM engines: auto, float32, bfloat16, float16."
    )
    threads: int | None = Field(None, description="CPU threads for inference (default: all cores).")
    max_batch_size: int = Field(8, description="Most sequences an engine decodes together.")
    offline: bool = Field(False, description="Never contact the model hub; only local paths and the local cache.")
    hf_vision_cache_bytes: int = Field(
        256 * MiB,
        description="transformers engine: memory for image encodings by content hash, so an image sent again "
        "(e.g. earlier turns of a conversation) is not re-encoded. 0 disables.",
    )
    llamacpp_context: int = Field(
        8192, description="llama.cpp engine: context tokens per sequence (capped at the model's trained context)."
    )
    llamacpp_embed_cache_bytes: int = Field(
        256 * MiB,
        description="llama.cpp engine: memory for encoded image embeddings (a repeated image is not re-encoded).",
    )

    # --- thinking models (oculi.reasoning) ------------------------------------------
    reasoning_parser: str | None = Field(
        None,
        description="Reasoning parser of the served models: qwen3, deepseek_r1, glm45 (<think>…</think>), kimi "
        "(◁think▷…◁/think▷), or none to leave thinking in the answer. Default: recognised from the chat template.",
    )
    reasoning_budgets: dict[str, int] = Field(
        default_factory=dict,
        description="Reasoning tokens per reasoning_effort {effort: tokens}; defaults minimal 256, low 1024, "
        'medium 4096, high 16384, xhigh 32768. Per model: {"<model>:<effort>": tokens}.',
    )
    reasoning_secret: str | None = Field(
        None,
        description="Key that signs reasoning.encrypted_content blobs (share it across replicas). "
        "Default: a random key per process.",
    )

    # --- engine choice and vLLM (engines/vllm; docs/scaling.md) -------------------
    engine: Literal["auto", "hf", "llamacpp", "vllm"] = Field(
        "auto",
        description="Engine serving the models: auto (llama.cpp for GGUF, transformers otherwise), hf, llamacpp, "
        "vllm. max_batch_size is vLLM's max_num_seqs.",
    )
    vllm_tensor_parallel_size: int = Field(1, description="vLLM: GPUs each model is split across (tensor parallel).")
    vllm_pipeline_parallel_size: int = Field(1, description="vLLM: pipeline stages (layers split across GPUs/nodes).")
    vllm_data_parallel_size: int = Field(1, description="vLLM: model replicas inside this server (data parallel).")
    vllm_distributed_executor_backend: Literal["mp", "ray"] | None = Field(
        None, description="vLLM: how workers are started: mp (one node) or ray (several nodes). Default: vLLM's."
    )
    vllm_gpu_memory_utilization: float = Field(0.9, description="vLLM: share of each GPU's memory vLLM may use.")
    vllm_max_model_len: int | None = Field(None, description="vLLM: context length (default: the model's).")
    vllm_quantization: str | None = Field(None, description="vLLM: quantization method (e.g. awq, gptq, fp8).")
    vllm_enforce_eager: bool = Field(False, description="vLLM: no CUDA graphs / compilation (faster start).")
    vllm_prefix_caching: bool = Field(True, description="vLLM: reuse the KV cache of shared prompt prefixes.")
    vllm_args: CommaList = Field(
        default_factory=list,
        description="vLLM: further engine arguments as KEY=VALUE (any AsyncEngineArgs field; VALUE parsed as JSON "
        "when it is JSON). An unknown KEY stops the server. Env: comma-separated.",
    )

    # --- network ------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="HTTP bind address. Without API keys oculi binds to 127.0.0.1 only.")
    port: int = Field(8000, description="HTTP port.")
    grpc_port: int = Field(50051, description="gRPC port (xai-sdk). 0 disables gRPC.")
    api_keys: CommaList = Field(default_factory=list, description="Accepted API keys. None: no auth, localhost only.")
    api_keys_file: Path | None = Field(None, description="File with one API key per line (added to api_keys).")

    # --- storage ------------------------------------------------------------------
    store_url: str = Field(
        "", description="Response store: sqlite:///path or postgresql://... (default: SQLite in the data dir)."
    )
    retention_days: float = Field(30, description="Stored responses expire after this many days.")

    # --- background jobs (deferred completions, batches) ------------------------------
    job_share: float = Field(
        0.5,
        description="Share of the engine's seats (max_batch_size) background jobs may use; jobs are claimed only "
        "while interactive requests leave seats free.",
    )
    job_lease_seconds: float = Field(
        30.0, description="A claimed job's lease; renewed every third of it. A dead replica's jobs rerun after it."
    )
    job_poll_seconds: float = Field(1.0, description="How often an idle replica looks for queued jobs.")
    job_max_attempts: int = Field(
        3, description="Times a job is started before it is failed (its servers kept dying while running it)."
    )
    job_shutdown_grace_seconds: float = Field(
        10.0, description="On SIGTERM: how long running jobs may finish before they are handed back to the queue."
    )
    batch_window_seconds: float = Field(
        86_400.0,
        gt=0,
        description="A batch's completion window ('24h' on the wire): requests not started this long after the "
        "batch was created are expired, never run; finished ones keep their results.",
    )

    # --- files (Files API) -----------------------------------------------------------
    max_file_bytes: int = Field(
        200 * MiB, description="Largest uploaded file (413 above, refused while the upload streams in)."
    )
    file_quota_bytes: int = Field(
        10 * 1024 * MiB, description="Total bytes of files one API key may store (429 above)."
    )
    file_quota_count: int = Field(10_000, description="Number of files one API key may store (429 above).")
    file_retention_days: float = Field(
        0, description="Uploaded files expire after this many days (0: kept until deleted, like the hosted API)."
    )

    # --- image intake -------------------------------------------------------------
    fetch_allow: CommaList = Field(
        default_factory=list,
        description="Hosts or CIDR networks the image fetcher may reach although they are private/loopback.",
    )
    fetch_connect_timeout: float = Field(5.0, description="Seconds to connect to an image URL.")
    fetch_timeout: float = Field(30.0, description="Seconds for a whole image download.")
    fetch_max_redirects: int = Field(5, description="Redirects followed per image URL.")
    max_image_bytes: int = Field(20 * MiB, description="Largest image, in decoded bytes (SPEC: 20 MiB).")
    max_image_pixels: int = Field(64_000_000, description="Largest image in pixels (decompression-bomb guard).")
    image_cache_bytes: int = Field(256 * MiB, description="Memory for the content-hash cache of decoded images.")
    decode_workers: int = Field(0, description="Threads decoding images (0: number of cores).")
    auto_detail: Literal["size", "content"] = Field(
        "size",
        description="How detail 'auto' is resolved for images larger than 448 px: size (SPEC §3's rule: always "
        "high) or content (low unless the image holds small text or fine detail one view would lose, or the "
        "question asks to read, count or find something; a few ms per new image). Explicit low/high are kept.",
    )
    fast_image_decode: bool = Field(
        True,
        description="Decode big JPEGs at reduced scale when the tiles need far fewer pixels than the image has, "
        "and resize with torch's antialiased bicubic (the same filter as Pillow's, 3-8x faster; 2-4x faster "
        "in all on big photos; tiles differ from the exact path by about one grey level of 255 on average at "
        "most). Off: equal to the reference image processor.",
    )

    # --- guards ---------------------------------------------------------------------
    max_body_bytes: int = Field(128 * MiB, description="Largest HTTP request body (413 above).")
    max_inflight_image_bytes: int = Field(
        512 * MiB, description="Image bytes being processed at once across requests (429 above)."
    )
    max_queue: int = Field(64, description="Requests admitted at once (running + waiting); 429 above.")
    max_inflight_decoded_bytes: int = Field(
        2048 * MiB,
        description="Memory requests may take at once once decoded: image pixels, the float32 views engines "
        "take, text being tokenized. 429 above; 413 for a request that alone is larger. 0: no limit.",
    )

    malloc_arena_max: int = Field(
        2,
        description="glibc malloc arenas (as MALLOC_ARENA_MAX): fewer hold less freed memory after bursts. "
        "0: glibc's default.",
    )
    trim_memory_when_idle: bool = Field(
        True, description="Return freed memory to the system (malloc_trim) once the last request has finished."
    )

    # --- connections ---------------------------------------------------------------------
    request_header_timeout: float = Field(
        15.0, description="Seconds a client has to send a request's headers (connection closed, 408, after)."
    )
    request_body_timeout: float = Field(
        120.0, description="Seconds a client has to send a whole request body (408 after). 0: no limit."
    )
    keep_alive_timeout: float = Field(5.0, description="Seconds an idle keep-alive HTTP connection stays open.")
    max_connections: int = Field(
        1024, description="Most HTTP connections (and requests in progress) at once; 503 beyond it."
    )
    grpc_max_concurrent_rpcs: int = Field(256, description="Most gRPC calls in progress at once (RESOURCE_EXHAUSTED).")
    grpc_max_streams_per_connection: int = Field(100, description="Most concurrent gRPC streams on one connection.")
    metrics_public: bool = Field(
        False, description="Serve /metrics without an API key (for a scraper on a trusted network)."
    )

    # --- observability ---------------------------------------------------------------
    log_level: str = Field("info", description="Log level.")
    log_json: bool = Field(False, description="Structured JSON logs.")

    @field_validator("models", "mmproj", "api_keys", "fetch_allow", "vllm_args", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config = os.environ.get("OCULI_CONFIG") or "oculi.toml"
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=config))

    # --- derived ----------------------------------------------------------------------
    def all_api_keys(self) -> list[str]:
        """``api_keys`` plus the lines of ``api_keys_file``."""
        keys = list(self.api_keys)
        if self.api_keys_file is not None:
            keys += [k.strip() for k in self.api_keys_file.read_text().splitlines() if k.strip()]
        return keys

    def resolved_store_url(self) -> str:
        """``store_url``, or the default SQLite file in the data dir."""
        return self.store_url or f"sqlite:///{default_data_dir() / 'oculi.db'}"

    def model_specs(self) -> list[str]:
        """Models to load; the built-in lite engine when none is named."""
        return self.models or [LITE_MODEL]
