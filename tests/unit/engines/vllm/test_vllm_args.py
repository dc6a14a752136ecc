"""``--vllm-arg KEY=VALUE``: checked against vLLM's own ``AsyncEngineArgs`` before any engine starts."""

from __future__ import annotations

import pytest
from servers import vllm_available

from oculi.engines.vllm.args import known_fields, parse_extra_args
from oculi.errors import ConfigurationError

pytestmark = pytest.mark.skipif(
    not vllm_available(), reason="vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh)"
)


@pytest.fixture(scope="module")
def known() -> set[str]:
    from vllm.engine.arg_utils import AsyncEngineArgs

    return known_fields(AsyncEngineArgs)


def test_an_unknown_key_stops_the_server_naming_it(known: set[str]) -> None:
    with pytest.raises(ConfigurationError, match="no_such_knob"):
        parse_extra_args(["no_such_knob=1"], known)


def test_values_are_json_when_they_parse_and_dashes_are_underscores(known: set[str]) -> None:
    parsed = parse_extra_args(
        ["max-num-batched-tokens=8192", "--kv-cache-dtype=auto", 'hf_overrides={"a": [1]}'], known
    )
    assert parsed == {"max_num_batched_tokens": 8192, "kv_cache_dtype": "auto", "hf_overrides": {"a": [1]}}


@pytest.mark.parametrize("item", ["model=/elsewhere", "nonsense", "=3"])
def test_reserved_and_malformed_items_are_refused(known: set[str], item: str) -> None:
    with pytest.raises(ConfigurationError, match="--vllm-arg"):
        parse_extra_args([item], known)
