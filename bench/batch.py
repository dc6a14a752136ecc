"""How fast do batches run, one replica vs two on one PostgreSQL, and what does the job machinery cost?

1. **Job overhead** (in process, one runtime, one seat): the same N image
   requests run (a) straight through the pipeline (``Generator.complete``:
   intake + engine) one at a time, and (b) as a batch (store the images and
   jobs, claim with a lease, run, write the result once), also one at a time.
   The difference per request is what the job machinery adds (ms), on SQLite
   and on PostgreSQL. Measured with the scripted engine (answers at once), so
   the difference is the machinery's own cost and not the noise of a model's
   run time on a shared machine; ``--overhead-engine lite`` uses oculi-lite.
2. **Replicas**: an N-image batch submitted with the xai-sdk to ``oculi
   serve`` (oculi-lite) on a fresh PostgreSQL schema, with one replica and
   then two replicas sharing the store; images/s and the ratio two / one.
   Both replicas run on this one machine, so the work is CPU-bound and the
   ratio says whether the queue lets two processes share the work, not what
   a second machine would add.

Every image is distinct (no cache hits). The issue's size is 1,000 images;
on a busy shared machine use fewer (``--images 200``) and say so.

    OCULI_TEST_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/batch.py [--images 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import secrets
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import psycopg
import xai_sdk
from PIL import Image
from xai_sdk.chat import image, user

from oculi.domain import Conversation, Detail, ImagePart, Message, Role, TextPart
from oculi.runtime import Runtime
from oculi.service.batches import BatchItem
from oculi.service.generate import GenerationRequest
from oculi.settings import Settings
from oculi.testing.server import running_server

PG = os.environ.get("OCULI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
QUESTION = "What colours are in this picture?"


def picture(i: int, size: int = 160) -> str:
    """A distinct small PNG as a data URL (noise blended with an index-dependent colour)."""
    noise = Image.effect_noise((size, size), 40 + i % 30).convert("RGB")
    tint = Image.new("RGB", (size, size), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
    buffer = io.BytesIO()
    Image.blend(noise, tint, 0.6).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def request(url: str) -> GenerationRequest:
    conversation = Conversation([Message(Role.USER, [TextPart(QUESTION), ImagePart(url, Detail.LOW)])])
    return GenerationRequest(model="oculi-lite", conversation=conversation, owner="bench")


def pg_schema(stack: ExitStack) -> str:
    """A fresh schema on the PostgreSQL server, dropped at the end."""
    schema = f"oculi_bench_{secrets.token_hex(5)}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    stack.callback(drop)
    return f"{PG}{'&' if '?' in PG else '?'}options=-csearch_path%3D{schema}"


async def overhead(store_url: str, urls: list[str], engine: str) -> tuple[float, float]:
    """Seconds for the requests run directly, then as a batch (one seat each)."""
    settings = Settings(store_url=store_url, max_batch_size=2, job_share=0.5, job_poll_seconds=0.05)
    registry = None
    if engine == "scripted":
        from oculi.engines.registry import EngineRegistry
        from oculi.testing.scripted import ScriptedEngine

        registry = EngineRegistry([ScriptedEngine("oculi-lite")], {})
    runtime = await Runtime.open(settings, registry=registry)
    try:
        await runtime.generator.complete(request(picture(10**6)))  # warm-up: models loaded, first allocations
        started = time.perf_counter()
        for url in urls:
            await runtime.generator.complete(request(url))
        direct = time.perf_counter() - started
        fresh = [picture(i + 10**5) for i in range(len(urls))]  # other images: no cache hits from the direct run
        started = time.perf_counter()
        batch = await runtime.batches.create("bench", "overhead")
        await runtime.batches.add(batch.id, "bench", [BatchItem(f"r{i}", request(u)) for i, u in enumerate(fresh)])
        while (await runtime.batches.get(batch.id, "bench")).counts.pending:  # noqa: ASYNC110 (a client polls)
            await asyncio.sleep(0.02)
        return direct, time.perf_counter() - started
    finally:
        await runtime.close()


def replicas(count: int, store_url: str, urls: list[str]) -> float:
    """Seconds for an N-image batch (xai-sdk) on ``count`` replicas sharing ``store_url``."""
    with ExitStack() as stack:
        env = {"OCULI_JOB_POLL_SECONDS": "0.1"}
        servers = [
            stack.enter_context(running_server(store_url=store_url, api_keys=["bench"], env=env)) for _ in range(count)
        ]
        client = xai_sdk.Client(api_host=servers[0].grpc_address, api_key="bench")
        chats = []
        for i, url in enumerate(urls):
            chat = client.chat.create(model="grok-4", batch_request_id=f"r{i}")
            chat.append(user(QUESTION, image(url, detail="low")))
            chats.append(chat)
        started = time.perf_counter()
        batch = client.batch.create(f"{count} replicas")
        for start in range(0, len(chats), 200):
            client.batch.add(batch.batch_id, chats[start : start + 200])
        while (state := client.batch.get(batch.batch_id).state).num_pending:
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        assert state.num_success == len(urls), state
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images in the replica batch (issue: 1000)")
    parser.add_argument("--overhead-images", type=int, default=200, help="requests in the overhead measurement")
    parser.add_argument("--overhead-engine", choices=["scripted", "lite"], default="scripted")
    parser.add_argument("--skip-replicas", action="store_true", help="only the overhead measurement")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  load: {os.getloadavg()[0]:.1f}  images: {args.images}")

    urls = [picture(i) for i in range(args.overhead_images)]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        stores = {"sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}", "postgresql": pg_schema(stack)}
        print(f"job overhead, {args.overhead_engine} engine, {len(urls)} requests, one at a time")
        print(f"{'store':<16} {'direct s':>9} {'batch s':>9} {'ms/request':>11} {'ratio':>7}")
        for name, url in stores.items():
            direct, batched = asyncio.run(overhead(url, urls, args.overhead_engine))
            per_ms = (batched - direct) / len(urls) * 1000
            print(f"{name:<16} {direct:>9.2f} {batched:>9.2f} {per_ms:>11.1f} {batched / direct:>7.2f}")

    if args.skip_replicas:
        return
    urls = [picture(i + 2 * 10**5) for i in range(args.images)]
    with ExitStack() as stack:
        one = replicas(1, pg_schema(stack), urls)
    with ExitStack() as stack:
        two = replicas(2, pg_schema(stack), urls)
    print(f"{'replicas':<16} {'seconds':>9} {'images/s':>9}")
    print(f"{'one':<16} {one:>9.2f} {len(urls) / one:>9.1f}")
    print(f"{'two':<16} {two:>9.2f} {len(urls) / two:>9.1f}")
    print(f"ratio two / one (images/s): {one / two:.2f}  (both on this machine's {os.cpu_count()} cores: CPU-bound)")


if __name__ == "__main__":
    main()
