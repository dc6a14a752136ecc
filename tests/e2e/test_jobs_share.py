"""Background jobs yield to interactive traffic: no job starts while interactive requests fill the engine.

The scripted engine serves with ``max_batch_size=2`` and ``job_share=0.5``
(one background seat). Two slow interactive streams fill both engine seats;
a deferred request queued meanwhile stays pending until they end, then runs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
from servers import KEY

from oculi.testing.server import running_server

AUTH = {"authorization": f"Bearer {KEY}"}


def test_jobs_wait_while_interactive_requests_fill_the_engine(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'oculi.db'}"
    env = {"OCULI_MAX_BATCH_SIZE": "2", "OCULI_JOB_SHARE": "0.5", "OCULI_JOB_POLL_SECONDS": "0.1"}
    with running_server(api_keys=[KEY], store_url=url, scripted=True, grpc=False, env=env) as server:
        slow = {
            "model": "grok-4",
            "stream": True,
            "messages": [{"role": "user", "content": "[[tokens:20]] [[delay:0.25]]"}],
        }

        def stream() -> None:
            with httpx.stream("POST", f"{server.v1}/chat/completions", json=slow, headers=AUTH, timeout=60) as r:
                r.read()

        streams = [threading.Thread(target=stream) for _ in range(2)]
        started = time.monotonic()
        for thread in streams:
            thread.start()
        time.sleep(1.0)  # both streams admitted and generating
        body = {"model": "grok-4", "deferred": True, "messages": [{"role": "user", "content": "[[tokens:2]]"}]}
        request_id = httpx.post(f"{server.v1}/chat/completions", json=body, headers=AUTH, timeout=30).json()[
            "request_id"
        ]

        engine = create_engine(url)
        try:

            def state() -> str:
                with engine.connect() as conn:
                    return str(conn.execute(text("SELECT state FROM jobs WHERE id = :id"), {"id": request_id}).scalar())

            seen = set()
            until = started + 4.0  # the streams last about 5 s: sample only while both surely run
            while time.monotonic() < until:
                seen.add(state())
                time.sleep(0.1)
            assert seen == {"pending"}, f"the job ran while interactive requests filled the engine: {seen}"
            for thread in streams:
                thread.join(30)
            deadline = time.monotonic() + 30
            while state() != "succeeded":
                assert time.monotonic() < deadline, "the job never ran after the interactive requests ended"
                time.sleep(0.1)
        finally:
            engine.dispose()
        poll = httpx.get(f"{server.v1}/chat/deferred-completion/{request_id}", headers=AUTH, timeout=30)
        assert poll.status_code == 200 and poll.json()["choices"][0]["message"]["content"] == "word0 word1"
