"""Gemma 4's thinking tags through vLLM's own detokenizer: kept in the text, ids unchanged, stop strings intact.

vLLM leaves special tokens out of the text it writes; Gemma 4's ``<|channel>`` /
``<channel|>`` are special, so the engine hands vLLM a tokenizer copy in which
they are plain text (``tags_as_text_tokenizer``). Checked with vLLM's
``IncrementalDetokenizer`` on the tiny Gemma 4 checkpoint's tokenizer, as
vLLM's output processor runs it for a request.
"""

from __future__ import annotations

import pytest
from servers import vllm_available

from oculi.engines.common.thinking import reasoning_format, thinking_model
from oculi.engines.vllm.thinking import tags_as_text_tokenizer
from oculi.testing.checkpoints import cached_checkpoint

pytestmark = pytest.mark.skipif(
    not vllm_available(), reason="vLLM is not installed (OCULI_VLLM=cpu ./scripts/install.sh)"
)
WRITTEN = "<|channel>thought\nA red square.<channel|>It is red."


def _vllm_text(tokenizer_dir, ids: list[int], stop: list[str]) -> str:
    """The text vLLM's detokenizer writes for ``ids``, one decode step each (DELTA outputs), until a stop string."""
    from vllm import SamplingParams
    from vllm.tokenizers.registry import get_tokenizer
    from vllm.v1.engine import EngineCoreRequest
    from vllm.v1.engine.detokenizer import IncrementalDetokenizer

    tokenizer = get_tokenizer(str(tokenizer_dir))
    request = EngineCoreRequest(
        request_id="r",
        prompt_token_ids=[2],
        mm_features=None,
        sampling_params=SamplingParams(max_tokens=64, stop=stop or None),
        pooling_params=None,
        arrival_time=0.0,
        lora_request=None,
        cache_salt=None,
        data_parallel_rank=None,
    )
    detokenizer = IncrementalDetokenizer.from_new_request(tokenizer, request)
    text = ""
    for token in ids:
        stopped = detokenizer.update([token], False)
        text += detokenizer.get_next_output_text(stopped is not None, True)
        if stopped:
            break
    return text


def test_gemma4s_tags_stay_in_vllms_text_with_the_tokenizer_copy() -> None:
    from transformers import AutoProcessor

    checkpoint = cached_checkpoint("tiny-gemma4")
    processor = AutoProcessor.from_pretrained(checkpoint)
    tokenizer = processor.tokenizer
    thinking = thinking_model(reasoning_format(processor, None), tokenizer)
    assert thinking is not None
    tags = sorted(tokenizer.convert_ids_to_tokens(list(thinking.special_tags(tokenizer))))
    assert tags == ["<channel|>", "<|channel>"]
    copy = tags_as_text_tokenizer(checkpoint, tags)
    assert tags_as_text_tokenizer(checkpoint, tags) == copy  # written once
    ids = tokenizer(WRITTEN, add_special_tokens=False)["input_ids"]

    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(copy)(WRITTEN, add_special_tokens=False)["input_ids"] == ids
    assert _vllm_text(checkpoint, ids, []) == "thought\nA red square.It is red."  # the original: tags gone
    assert _vllm_text(copy, ids, []) == WRITTEN
    assert _vllm_text(copy, ids, ["is red"]) == "<|channel>thought\nA red square.<channel|>It "
