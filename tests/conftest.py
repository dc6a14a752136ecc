"""Suite-wide fixtures: the test-server factory (``servers``), the shared servers, the tiny checkpoints.

Area-specific fixtures live in each test folder's conftest; servers come from
``servers`` (``tests/servers.py``), so a configuration runs once per session.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import xdist_groups
from servers import FAMILY_CHECKPOINTS, Servers, internvl, lite, scripted, thinking

from oculi.testing.server import ServerProcess

_FACTORY = Servers()


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """The session's one factory of real ``oculi serve`` processes (``tests/servers.py``)."""
    yield _FACTORY
    _FACTORY.close()


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture parameters
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker: costly groups first, and say which tests share a server (``tests/xdist_groups.py``)."""
    if hasattr(config, "workerinput"):
        xdist_groups.order(items)
        xdist_groups.write_table(config, items)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """pytest-xdist's hook, in the controller: tell each worker where to write the table of groups."""
    node.workerinput[xdist_groups.TABLE] = xdist_groups.table_path(node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """pytest-xdist's hook: tests that share a server go to the same worker (``tests/xdist_groups.py``)."""
    return xdist_groups.make_scheduler(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A pytest-xdist worker hands the list of servers it started to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["server_starts"] = list(_FACTORY.starts)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist's hook, in the controller: collect what each worker started."""
    _FACTORY.starts.extend(getattr(node, "workeroutput", {}).get("server_starts", []))


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """Say how many server processes the factory started (the suite's main cost), and which."""
    if _FACTORY.starts:
        terminalreporter.write_sep("-", f"{len(_FACTORY.starts)} shared test servers started")
        for name in sorted(_FACTORY.starts):
            terminalreporter.write_line(f"  {name}")


@pytest.fixture(scope="session")
def internvl_server(servers: Servers, tiny_internvl: Path) -> ServerProcess:
    """The shared tiny InternVL server (transformers, HTTP + gRPC, keys ``KEY`` / ``OTHER_KEY``)."""
    return servers.get(internvl(tiny_internvl))


@pytest.fixture(scope="session")
def thinking_server(servers: Servers, tiny_thinking: Path) -> ServerProcess:
    """The shared tiny thinking server (transformers; ``low`` effort = ``servers.THINKING_BUDGET`` reasoning tokens)."""
    return servers.get(thinking(tiny_thinking))


@pytest.fixture(scope="session")
def scripted_server(servers: Servers) -> ServerProcess:
    """The shared scripted-engine server (behaviours a real model cannot show on demand), small limits."""
    return servers.get(scripted())


@pytest.fixture(scope="session")
def lite_server(servers: Servers) -> ServerProcess:
    """The shared oculi-lite server (HTTP + gRPC, keys ``KEY`` / ``OTHER_KEY``, jobs polled every 0.2 s)."""
    return servers.get(lite())


@pytest.fixture(scope="session")
def tiny_internvl() -> Path:
    """A tiny random-weight InternVL checkpoint (Qwen2 text model), built once and cached."""
    from oculi.testing.checkpoints import cached_checkpoint

    return cached_checkpoint("tiny-internvl")


@pytest.fixture(scope="session")
def tiny_thinking() -> Path:
    """The tiny InternVL with a Qwen3-style thinking template (``oculi.testing.thinking``), built once and cached."""
    from oculi.testing.checkpoints import cached_checkpoint

    return cached_checkpoint("tiny-internvl-thinking")


@pytest.fixture(scope="session")
def tiny_llava() -> Path:
    """A tiny random-weight LLaVA checkpoint (CLIP vision + Llama text), built once and cached."""
    from oculi.testing.checkpoints import cached_checkpoint

    return cached_checkpoint("tiny-llava")


@pytest.fixture(scope="session", params=FAMILY_CHECKPOINTS)
def tiny_family(request) -> Path:
    """Each tiny random-weight checkpoint in ``FAMILY_CHECKPOINTS``."""
    from oculi.testing.checkpoints import cached_checkpoint

    return cached_checkpoint(request.param)


@pytest.fixture(scope="session")
def prepare_image():
    """Build a ``PreparedImage`` from a PIL image the way intake does (SPEC §3 plan + tiles).

    Returns ``prepare(image, detail, spec, index=0)``. Used by engine tests so
    they do not depend on fetching/decoding.
    """
    import hashlib
    import io

    from oculi.intake.tiling import plan_tiles, render_grid, render_views
    from oculi.intake.types import PreparedImage, ViewLayout

    def prepare(image, detail, spec, index=0):
        plan = plan_tiles(image.width, image.height, detail, max_tiles=spec.max_tiles)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        data = buffer.getvalue()
        grid = spec.tiles and spec.layout is ViewLayout.GRID
        pixels = render_views(image, plan, spec) if spec.tiles and not grid else None
        return PreparedImage(
            index=index,
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
            mime="image/png",
            width=image.width,
            height=image.height,
            plan=plan,
            pixel_values=pixels,
            image=image if spec.full_image_max_side else None,
            model_images=render_grid(image, plan, spec) if grid else None,
        )

    return prepare


@pytest.fixture(scope="session")
def internvl_engine(tiny_internvl):
    """The transformers engine on the tiny InternVL checkpoint (batch of up to 8 sequences)."""
    from oculi.engines import hf
    from oculi.settings import Settings

    engine = hf.load(str(tiny_internvl), Settings(max_batch_size=8, offline=True))
    yield engine
    engine.scheduler.close()


class Collected:
    """Everything an engine stream produced: text and finish reason per choice, the usage, the deltas."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.finish: dict = {}
        self.usage = None
        self.deltas: list = []

    @property
    def text(self) -> str:
        return self.texts.get(0, "")


@pytest.fixture(scope="session")
def collect():
    """``await collect(engine, request)`` → ``Collected`` (checks the stream contract on the way)."""

    async def run(engine, request) -> Collected:
        out = Collected()
        async for delta in engine.generate(request):
            if not out.deltas:
                assert delta.usage is not None, "the first delta must carry the prompt usage"
                assert delta.usage.completion_tokens == 0, "the first delta's usage counts the prompt only"
            assert delta.index not in out.finish, "no delta after a choice finished"
            out.deltas.append(delta)
            out.texts[delta.index] = out.texts.get(delta.index, "") + delta.text
            if delta.finish_reason is not None:
                out.finish[delta.index] = delta.finish_reason
            if delta.usage is not None:
                if out.usage is not None:
                    assert delta.usage.prompt_tokens == out.usage.prompt_tokens, "prompt usage changed mid-stream"
                out.usage = delta.usage
        assert out.deltas and out.deltas[-1].usage is not None, "the last delta must carry the final usage"
        return out

    return run
