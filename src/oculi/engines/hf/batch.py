"""The batching scheduler of the transformers engine.

One thread owns the model. Requests (``Job``s) arrive in an inbox; the thread
admits them while the batch has seats (``max_batch_size`` sequences; a job's
``n`` choices take ``n`` seats), prefills a new job on its own (its images
and prompt, batch size 1, exactly the reference computation; one new job per
step while others decode), then runs ONE decode step for every active
sequence together. Sequences of different
lengths share one left-padded KV cache: a new job's cache is padded on the
left to the batch's length (or the batch to its), an attention mask hides the
padding, and explicit position ids keep every sequence at its own positions.
A hybrid model's linear-attention layers (Qwen3.5's Gated DeltaNet) keep a
convolution and a recurrent state per sequence instead of keys and values:
those are stacked, selected and repeated along the batch beside the KV
layers and never padded (a prefill is one sequence alone, a decode step one
real token per sequence), so padding never enters a state.
Finished or cancelled sequences leave the batch at the next step and their
seats go to waiting jobs, so a request never waits for a whole batch to end.

Each sequence samples with its own seeded ``torch.Generator`` from its own
logits row, so a seeded request gives the same tokens alone or batched. A
sequence with a grammar (``oculi.structured``) masks its own row before
sampling and advances its matcher with each token; it ends when the grammar
is complete. Sequences with and without grammars share the batch.
Results go back to the request's asyncio queue through the ``emit`` callback
(``loop.call_soon_threadsafe``), never blocking the thread on the event loop.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from oculi.domain import Delta, FinishReason, GenerationParams, Usage
from oculi.engines.common.guide import TokenGuide
from oculi.engines.hf.prompt import Prompt
from oculi.engines.hf.text import TextStream
from oculi.engines.hf.vision import VisionEncoder
from oculi.reasoning.tracker import ThinkTracker
from oculi.structured.matcher import TokenConstraint

log = logging.getLogger(__name__)

#: Sent after a job's last delta: the stream is complete.
DONE = object()


@dataclass
class Job:
    """One request for the scheduler: its inputs, sampling and where results go."""

    prompt: Prompt
    params: GenerationParams
    max_new_tokens: int
    emit: Callable[[object], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    constraints: list[TokenConstraint] | None = None  # one per choice, when the output follows a grammar
    thinking: list[ThinkTracker] | None = None  # one per choice, for a thinking model (budget, counts)
    finished_choices: int = 0
    completion_tokens: int = 0

    def cancel(self) -> None:
        """Ask the scheduler to drop this job's sequences at its next step."""
        self.cancelled.set()


class _Sequence:
    """One choice of a job in the batch: its tokens, sampler and text stream."""

    def __init__(self, job: Job, index: int, length: int, stream: TextStream) -> None:
        self.job = job
        self.index = index
        self.length = length  # tokens of this sequence in the KV cache
        self.offset = job.prompt.position_offset  # position of the token at cache index i: i + offset
        self.stream = stream
        self.tokens: list[int] = []
        self.done = False
        self.guide = TokenGuide(
            job.constraints[index] if job.constraints else None, job.thinking[index] if job.thinking else None
        )
        seed = job.params.seed
        base = secrets.randbits(62) if seed is None else int(seed)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed((base * 1_000_003 + index) % (2**63 - 1))

    @property
    def last_token(self) -> int:
        return self.tokens[-1]

    def sample(self, logits: torch.Tensor) -> int:
        """The next token from this sequence's logits row, under its grammar when it has one.

        A thinking sequence whose budget is spent emits its end tag instead;
        its grammar applies once the thinking is over (``TokenGuide``).
        """
        forced = self.guide.forced()
        if forced is not None:
            return forced
        if self.guide.masking:
            logits = self.guide.mask(logits.clone())
        return sample(logits, self.job.params, self.generator)


def sample(logits: torch.Tensor, params: GenerationParams, generator: torch.Generator) -> int:
    """One token from a logits row: greedy at temperature 0, else temperature + nucleus (top_p)."""
    if params.temperature <= 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop = cumulative - sorted_probs >= params.top_p
        sorted_probs[drop] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def _is_state(layer: Any) -> bool:
    """A linear-attention layer's cache: per-sequence states, no sequence axis."""
    return hasattr(layer, "recurrent_states")


def _states(layer: Any) -> list[tuple[dict[int, Any], int]]:
    """The (state dict, index) pairs a linear-attention layer holds (convolution and recurrent, per state)."""
    out: list[tuple[dict[int, Any], int]] = []
    for states in (layer.conv_states, layer.recurrent_states):
        out.extend((states, i) for i, tensor in states.items() if tensor is not None)
    return out


def _select(cache: Any, index: torch.Tensor, trim: int = 0) -> None:
    """Keep the batch rows ``index`` of every layer; drop ``trim`` leading positions of the KV layers."""
    for layer in cache.layers:
        if _is_state(layer):
            for states, i in _states(layer):
                states[i] = states[i].index_select(0, index)
        else:
            layer.keys = layer.keys.index_select(0, index)[:, :, trim:]
            layer.values = layer.values.index_select(0, index)[:, :, trim:]


def _repeat(cache: Any, n: int) -> None:
    """Each batch row ``n`` times in a row (a request's ``n`` choices share its prefill)."""
    for layer in cache.layers:
        if _is_state(layer):
            for states, i in _states(layer):
                states[i] = states[i].repeat_interleave(n, dim=0)
        else:
            layer.batch_repeat_interleave(n)


def _left_pad(tensor: torch.Tensor, pad: int) -> torch.Tensor:
    if pad == 0:
        return tensor
    shape = list(tensor.shape)
    shape[-2] = pad
    return torch.cat([tensor.new_zeros(shape), tensor], dim=-2)


class BatchScheduler:
    """Owns the model on one thread; batches the decode steps of all running requests."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        eos_token_ids: set[int],
        max_batch_size: int,
        device: str,
        threads: int | None = None,
        encoder: VisionEncoder | None = None,
        keep: frozenset[int] = frozenset(),
    ) -> None:
        self.model = model
        self.keep = keep  # special tokens the text keeps (a thinking model's tags, for the reasoning split)
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.eos_token_ids = eos_token_ids
        self.max_batch_size = max(1, max_batch_size)
        self.device = device
        self.threads = threads
        self._inbox: queue.Queue[Job | None] = queue.Queue()
        self._waiting: deque[Job] = deque()
        self._active: list[_Sequence] = []
        self._cache: Any = None
        self._closing = False
        text = model.config.get_text_config()
        #: Per layer: a linear-attention layer (per-sequence states) or an attention layer (keys and values).
        self._linear = [kind == "linear_attention" for kind in getattr(text, "layer_types", None) or []]
        self._thread = threading.Thread(target=self._run, name="oculi-hf-scheduler", daemon=True)
        self._thread.start()

    # --- public (any thread) ----------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job``; its deltas arrive through ``job.emit``."""
        self._inbox.put(job)

    @property
    def running(self) -> int:
        """Sequences in the batch now (a snapshot, for metrics and tests)."""
        return len(self._active)

    @property
    def waiting(self) -> int:
        """Jobs queued for a seat (a snapshot)."""
        return len(self._waiting) + self._inbox.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread after the current step; pending jobs are failed."""
        self._inbox.put(None)
        self._thread.join(timeout)

    # --- the scheduler thread ----------------------------------------------------------
    def _run(self) -> None:
        if self.threads:
            torch.set_num_threads(self.threads)
        while not self._closing:
            self._pull(block=not self._active and not self._waiting)
            try:
                self._admit()
                if self._active:
                    self._step()
            except Exception as exc:  # a model failure fails the jobs in the batch, not the thread
                log.exception("transformers engine step failed")
                self._fail_all(exc)
        self._fail_all(RuntimeError("the transformers engine was closed"))

    def _pull(self, block: bool) -> None:
        try:
            item = self._inbox.get(block=block)
            while True:
                if item is None:
                    self._closing = True
                else:
                    self._waiting.append(item)
                item = self._inbox.get_nowait()
        except queue.Empty:
            return

    def _admit(self) -> None:
        """Prefill waiting jobs into free seats: one per decode step while others are decoding.

        A prefill (vision tower + prompt) costs as much as many decode steps;
        taking one at a time keeps the running requests streaming while a
        burst of new ones joins, instead of stalling them for every prefill.
        """
        admitted = 0
        while self._waiting and not self._closing:
            job = self._waiting[0]
            if job.cancelled.is_set():
                self._waiting.popleft()
                continue
            seats = max(1, job.params.n)
            if self._active and (admitted or len(self._active) + seats > self.max_batch_size):
                return
            self._waiting.popleft()
            admitted += 1
            try:
                self._prefill(job)
            except Exception as exc:
                log.exception("prefill failed")
                job.emit(exc)

    def _new_cache(self) -> Any:
        """An empty cache for one prefill: full attention layers (even sliding-window ones: the batch pads, merges
        and trims every layer alike, and the window is applied by the attention mask), and a state layer for each
        linear-attention layer of a hybrid model."""
        from transformers import DynamicCache
        from transformers.cache_utils import DynamicLayer, LinearAttentionLayer

        cache = DynamicCache()
        if any(self._linear):
            cache.layers = [LinearAttentionLayer() if linear else DynamicLayer() for linear in self._linear]
            cache.layer_class_to_replicate = None
        return cache

    @torch.inference_mode()
    def _prefill(self, job: Job) -> None:
        prompt = job.prompt
        ids = prompt.input_ids
        kwargs = dict(prompt.model_kwargs)
        if prompt.images and self.encoder is not None:
            kwargs.update(self.encoder.model_kwargs(prompt.images))
        out = self.model(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            past_key_values=self._new_cache(),
            use_cache=True,
            logits_to_keep=1,
            **kwargs,
        )
        prompt.model_kwargs, prompt.images = {}, []  # the pixels are in the KV cache now; free them
        cache = out.past_key_values
        n = max(1, job.params.n)
        if n > 1:
            _repeat(cache, n)
        logits = out.logits[0, -1].float().cpu()
        stop = list(job.params.stop)
        seqs = [_Sequence(job, i, prompt.length, TextStream(self.tokenizer, stop, self.keep)) for i in range(n)]
        for seq in seqs:
            self._accept(seq, seq.sample(logits))
        self._merge(cache, seqs)
        self._retire()

    @torch.inference_mode()
    def _step(self) -> None:
        self._retire()
        if not self._active:
            return
        length = self._cache.get_seq_length()
        pads = torch.tensor([length - s.length for s in self._active])
        mask = (torch.arange(length + 1)[None, :] >= pads[:, None]).long().to(self.device)
        ids = torch.tensor([[s.last_token] for s in self._active], device=self.device)
        positions = torch.tensor([[s.length + s.offset] for s in self._active], device=self.device)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self._cache = out.past_key_values
        logits = out.logits[:, -1].float().cpu()
        for row, seq in enumerate(self._active):
            seq.length += 1
            if not seq.done:
                self._accept(seq, seq.sample(logits[row]))
        self._retire()

    def _accept(self, seq: _Sequence, token: int) -> None:
        """Record a sampled token, stream its text, and decide whether the sequence ends."""
        job = seq.job
        if job.cancelled.is_set():
            seq.done = True
            return
        seq.tokens.append(token)
        job.completion_tokens += 1
        complete = seq.guide.advance(token)  # an end-of-sequence token counts as a reasoning token while thinking
        if token in self.eos_token_ids:
            self._finish(seq, seq.stream.flush(), FinishReason.STOP)
            return
        text, stopped = seq.stream.push(token)
        if complete:  # the grammar is complete: the answer is whole
            self._finish(seq, text + seq.stream.flush(), FinishReason.STOP)
        elif stopped:
            self._finish(seq, text, FinishReason.STOP)
        elif len(seq.tokens) >= job.max_new_tokens:
            self._finish(seq, text + seq.stream.flush(), FinishReason.LENGTH)
        elif text:
            job.emit(Delta(index=seq.index, text=text))

    def _finish(self, seq: _Sequence, text: str, reason: FinishReason) -> None:
        seq.done = True
        job = seq.job
        job.finished_choices += 1
        usage = None
        if job.finished_choices == max(1, job.params.n):
            usage = Usage(
                prompt_text_tokens=job.prompt.text_tokens,
                prompt_image_tokens=job.prompt.image_tokens,
                completion_tokens=job.completion_tokens,
                reasoning_tokens=sum(t.count for t in job.thinking or []),
            )
        job.emit(Delta(index=seq.index, text=text, finish_reason=reason, usage=usage))
        if usage is not None:
            job.emit(DONE)

    def _merge(self, cache: Any, seqs: list[_Sequence]) -> None:
        """Add a prefilled cache (and its sequences) to the batch, left-padding the shorter side."""
        if self._cache is None or not self._active:
            self._cache, self._active = cache, seqs
            return
        old, new = self._cache.get_seq_length(), cache.get_seq_length()
        total = max(old, new)
        for mine, theirs in zip(self._cache.layers, cache.layers, strict=True):
            if _is_state(mine):  # per-sequence states: stacked, never padded
                for (states, i), (other, _) in zip(_states(mine), _states(theirs), strict=True):
                    states[i] = torch.cat([states[i], other[i]], dim=0)
                continue
            mine.keys = torch.cat([_left_pad(mine.keys, total - old), _left_pad(theirs.keys, total - new)], dim=0)
            mine.values = torch.cat([_left_pad(mine.values, total - old), _left_pad(theirs.values, total - new)], dim=0)
        self._active = self._active + seqs

    def _retire(self) -> None:
        """Drop finished and cancelled sequences from the batch and trim padding nobody needs."""
        keep = [i for i, s in enumerate(self._active) if not s.done and not s.job.cancelled.is_set()]
        if len(keep) == len(self._active):
            return
        if not keep:
            self._active, self._cache = [], None
            return
        self._active = [self._active[i] for i in keep]
        index = torch.tensor(keep, device=self.device)
        length = self._cache.get_seq_length()
        _select(self._cache, index, trim=min(length - s.length for s in self._active))

    def _fail_all(self, exc: BaseException) -> None:
        jobs = {id(s.job): s.job for s in self._active}
        jobs.update({id(j): j for j in self._waiting})
        self._active, self._cache = [], None
        self._waiting.clear()
        for job in jobs.values():
            job.emit(exc)
