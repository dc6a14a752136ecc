"""Load: 50 concurrent requests with images against the tiny real model.

Every request completes, or is refused at once with 429; the server's
resident memory stays bounded; ``/health`` keeps answering throughout.
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from api_support import KEY, data_url, image_bytes

from oculi.testing.server import ServerProcess

CONCURRENCY = 50
MiB = 1024 * 1024


def test_fifty_concurrent_image_requests(vlm_server: ServerProcess) -> None:
    images = [data_url(image_bytes(640 + i, 480, fmt="JPEG", seed=i)) for i in range(CONCURRENCY)]
    baseline_rss = vlm_server.rss_bytes()
    peak_rss = baseline_rss
    health_latencies: list[float] = []
    health_failures: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak_rss
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    ok = client.get(vlm_server.base_url + "/health").status_code == 200
                    if not ok:
                        health_failures.append("status")
                except httpx.HTTPError as exc:
                    health_failures.append(repr(exc))
                health_latencies.append(time.monotonic() - start)
                peak_rss = max(peak_rss, vlm_server.rss_bytes())
                time.sleep(0.05)

    async def one(client: httpx.AsyncClient, i: int) -> tuple[int, float, dict]:
        body = {
            "model": "grok-4",
            "max_tokens": 2,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": f"Image number {i}:"},
                        {"type": "image_url", "image_url": {"url": images[i], "detail": "low"}},
                    ],
                }
            ],
        }
        start = time.monotonic()
        response = await client.post("/v1/chat/completions", json=body)
        return response.status_code, time.monotonic() - start, response.json()

    async def burst() -> list[tuple[int, float, dict]]:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        headers = {"authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=vlm_server.base_url, headers=headers, timeout=300, limits=limits) as c:
            return await asyncio.gather(*(one(c, i) for i in range(CONCURRENCY)))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        started = time.monotonic()
        results = asyncio.run(burst())
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        watcher.join()

    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}, statuses
    for status, latency, body in results:
        if status == 200:
            assert body["usage"]["prompt_tokens_details"]["image_tokens"] == 256
        else:
            assert latency < 2.0 and body["code"] == "overloaded"
    assert statuses.count(200) >= 1
    assert not health_failures, health_failures
    assert max(health_latencies) < 3.0, max(health_latencies)
    growth = peak_rss - baseline_rss
    print(
        f"\n50 concurrent: {statuses.count(200)} ok, {statuses.count(429)} refused in {elapsed:.1f}s; "
        f"RSS {baseline_rss / MiB:.0f} → peak {peak_rss / MiB:.0f} MiB; "
        f"/health max {max(health_latencies) * 1000:.0f} ms over {len(health_latencies)} probes"
    )
    assert growth < 1024 * MiB, f"RSS grew by {growth / MiB:.0f} MiB"
    # Everything admitted was released.
    health = httpx.get(vlm_server.base_url + "/health", headers={"authorization": f"Bearer {KEY}"})
    assert health.json()["active_requests"] == 0
