"""The llama.cpp worker: one model, one context of parallel sequences, one thread.

llama.cpp contexts are not thread-safe, so a single worker thread owns the
model, the context and the mtmd (vision) context, and every request reaches it
through a queue. The worker interleaves requests instead of serialising them:

- the context holds ``n_seq`` sequences (slots), each with its own KV stream;
- each loop iteration admits waiting requests into free slots, moves every
  prompt being read (prefill) on by one step — up to and including its next
  image chunk (a SPEC §3 tile is its own chunk), so a request that arrives
  while a many-tile image is being encoded starts after the tile in hand, not
  after the whole image — then decodes one token for *every* running sequence
  in a single ``llama_decode`` batch, so concurrent requests share the forward
  passes and streams keep flowing while images are encoded;
- positions and KV cells are counted apart: an image chunk takes ``n_pos``
  positions (Qwen's multimodal rotary positions: the larger side of its token
  grid) but ``n_tokens`` cells; the context limit is on cells;
- a slot keeps its KV after its request ends, and remembers what it holds; a
  new request goes to the free slot with the longest common prefix and only
  the rest is evaluated (a continued conversation re-uses its image in KV);
  when another slot, even a busy one, shares a much longer prefix (concurrent
  questions about the same image), its KV stream is copied over instead, at
  admission or before any image chunk of the prompt (the request admitted
  just before may have read the image meanwhile); what can be reused at all
  (recurrent layers, sliding windows) is ``slots``' to say;
- encoded image embeddings are cached by content key (LRU, byte budget), so
  the same image sent again in another slot is decoded from the cache
  without running the vision encoder again.

A choice with a grammar (``oculi.structured``) masks its own logits row in
the context's buffer before its sampler chain reads it (llguidance's token
bitmask; ``bench/structured.py`` compares this with llama.cpp's own GBNF
grammar sampler), advances its matcher with each token, and ends when the
grammar is complete.

Results go back to the asyncio side through ``Job.emit`` (thread-safe).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from oculi.domain import Delta, FinishReason, GenerationParams, Usage
from oculi.engines.common.guide import TokenGuide
from oculi.engines.llamacpp.native import ImageChunk, Native, Unit
from oculi.engines.llamacpp.prompt import Bitmap, Piece
from oculi.engines.llamacpp.slots import Slot, Slots, common_prefix, prompt_tokens, unit_key
from oculi.engines.llamacpp.text import TextStream
from oculi.errors import ContextLengthExceeded, InvalidRequest, Overloaded
from oculi.reasoning.tracker import ThinkTracker
from oculi.structured.matcher import TokenConstraint

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One generation request as the worker sees it."""

    pieces: list[Piece]
    params: GenerationParams
    emit: Callable[[Delta | BaseException | None], None]  # None: the stream is complete
    cancelled: threading.Event = field(default_factory=threading.Event)
    constraints: list[TokenConstraint] | None = None  # one per choice, when the output follows a grammar
    thinking: list[ThinkTracker] | None = None  # one per choice, for a thinking model (budget, counts)
    # Filled in by the worker:
    units: list[Unit] = field(default_factory=list)
    chunk_lists: list[Any] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    running: int = 0


@dataclass
class Running:
    """One choice being generated in a slot."""

    job: Job
    index: int
    slot: Slot
    sampler: Any  # llama_sampler*
    max_tokens: int
    text: TextStream
    n_past: int = 0  # the next position
    cells: int = 0  # KV cells the slot holds (an image chunk takes n_tokens cells for n_pos positions)
    next_token: int = -1
    generated: int = 0
    guide: TokenGuide = field(default_factory=TokenGuide)


@dataclass
class Prefill:
    """A prompt being read into its slots, one step (up to an image chunk) per worker iteration."""

    job: Job
    slots: list[Slot]
    keys: list[int | str]  # the prompt's unit keys (what its first slot will hold, unit by unit)
    steps: Iterator[None]


class _Cancelled(Exception):
    """The request went away during prefill (never reaches a caller)."""


class Worker:
    """The worker thread and its slots over a ``Native`` model; see the module docstring."""

    def __init__(self, native: Native, keep: frozenset[int] = frozenset()) -> None:
        self.native = native
        #: Special tokens the text keeps: a thinking model's tags (Gemma 4's ``<|channel>`` / ``<channel|>``
        #: are control tokens, which llama.cpp leaves out of a piece), for the pipeline's reasoning split.
        self.keep = keep
        self.n_ctx_seq = native.n_ctx_seq
        self.n_seq = native.n_seq
        self.peak_running = 0  # most choices decoded in one batch so far (tests, benchmarks)
        self.slots = Slots(native)
        self._running: list[Running] = []
        self._waiting: list[Job] = []
        self._prefilling: list[Prefill] = []
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="oculi-llamacpp", daemon=True)
        self._thread.start()

    @property
    def cache(self) -> Any:
        """The embedding cache (its ``hits``/``misses`` counters)."""
        return self.native.cache

    # --- the asyncio side -------------------------------------------------------------
    def submit(self, job: Job) -> None:
        """Queue ``job``; results arrive through ``job.emit``."""
        if self._closed:
            job.emit(Overloaded("The model is shutting down; retry on another replica."))
            return
        if job.params.n > self.n_seq:
            message = f"n={job.params.n} is more than this model serves at once ({self.n_seq})."
            job.emit(InvalidRequest(message, param="n"))
            return
        self._inbox.put(job)

    def wake(self) -> None:
        """Make an idle worker look at cancellations."""
        self._inbox.put(None)

    def close(self) -> None:
        """Stop the worker and free the native objects."""
        if self._closed:
            return
        self._closed = True
        self._inbox.put(None)
        self._thread.join()
        self.native.close()

    def stats(self) -> dict[str, Any]:
        """Counters for tests and benchmarks."""
        cache = self.native.cache
        return {"embed_cache_hits": cache.hits, "embed_cache_misses": cache.misses, "peak_running": self.peak_running}

    # --- the worker -------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            idle = not self._running and not self._waiting and not self._prefilling
            try:
                item = self._inbox.get(timeout=0.5) if idle else self._inbox.get_nowait()
                while True:
                    if item is not None:
                        self._waiting.append(item)
                    item = self._inbox.get_nowait()
            except queue.Empty:
                pass
            self._waiting = [j for j in self._waiting if not j.cancelled.is_set()]
            while self._waiting and self.slots.free() >= self._waiting[0].params.n:
                self._admit(self._waiting.pop(0))
            for prefill in list(self._prefilling):  # in admission order: each moves one step
                self._advance(prefill)
            if self._running:
                try:
                    self._step()
                except Exception as exc:  # a native failure ends the running requests, not the worker
                    log.exception("llama.cpp decode failed")
                    for run in list(self._running):
                        self._finish(run, FinishReason.ERROR, error=exc)
        for run in list(self._running):
            self._finish(run, FinishReason.CANCELLED)
        for prefill in self._prefilling:
            self.native.free_chunks(prefill.job.chunk_lists)
        for job in [p.job for p in self._prefilling] + self._waiting:
            self._emit(job, Overloaded("The model is shutting down; retry on another replica."))

    def _admit(self, job: Job) -> None:
        """Plan the prompt (mtmd's chunks, the length check), give it slots and start reading it."""
        slots: list[Slot] = []
        try:
            for piece in job.pieces:
                units = self.native.bitmap_units(piece, job.chunk_lists) if isinstance(piece, Bitmap) else piece
                job.units.extend(units)
            job.usage.prompt_text_tokens = sum(isinstance(u, int) for u in job.units)
            job.usage.prompt_image_tokens = sum(u.n_tokens for u in job.units if isinstance(u, ImageChunk))
            self._check_length(job)
            keys = [unit_key(u) for u in job.units]
            slots = self.slots.pick(keys, job.params.n)
        except Exception as exc:
            self._failed(job, slots, exc)
            return
        prefill = Prefill(job, slots, keys, self._prefill(job, slots, keys))
        self._prefilling.append(prefill)

    def _advance(self, prefill: Prefill) -> None:
        """One step of a prefill; when it is done its choices are running (or it failed and is answered)."""
        try:
            next(prefill.steps)
            return
        except StopIteration:
            self.native.free_chunks(prefill.job.chunk_lists)
        except Exception as exc:
            self._failed(prefill.job, prefill.slots, exc)
        self._prefilling.remove(prefill)

    def _failed(self, job: Job, slots: list[Slot], exc: Exception) -> None:
        """A prompt that could not be read: free its slots and chunks, tell the caller (unless it left)."""
        for slot in slots:
            self.slots.reset(slot)
        self.native.free_chunks(job.chunk_lists)
        if isinstance(exc, _Cancelled):
            return
        if not isinstance(exc, (InvalidRequest, Overloaded)):
            log.exception("llama.cpp prefill failed", exc_info=exc)
        self._emit(job, exc)

    def _check_length(self, job: Job) -> None:
        # Like the transformers engine: the prompt must fit with room for one token;
        # a larger max_tokens only means the answer may end at the context ("length").
        if prompt_tokens(job.units) >= self.n_ctx_seq:
            raise ContextLengthExceeded(job.usage.prompt_tokens, self.n_ctx_seq)
        if not job.units or not isinstance(job.units[-1], int):
            raise InvalidRequest("The prompt must end with text (the chat template's assistant header).")

    def _prefill(self, job: Job, slots: list[Slot], keys: list[int | str]) -> Iterator[None]:
        """Evaluate the prompt in the first slot after its reusable prefix, yielding after each image chunk
        (the worker decodes the running sequences and moves the other prefills on meanwhile); then copy
        it to the other slots and start the choices."""
        native, main = self.native, slots[0]
        keep = self.slots.reuse(main, slots, job.units, keys, 0)
        if not native.keep_prefix(main.seq_id, sum(main.positions[:keep])):
            native.clear(main.seq_id)
            keep = 0
        del main.keys[keep:], main.positions[keep:]
        job.usage.cached_prompt_tokens = prompt_tokens(job.units[:keep])
        # The prompt counts first, so streams can report them from their first chunk.
        self._emit(job, Delta(usage=dataclasses.replace(job.usage)))

        n_past, pending, last, i = sum(main.positions), [], len(job.units) - 1, keep
        while i <= last:
            if job.cancelled.is_set():
                raise _Cancelled()
            unit = job.units[i]
            if isinstance(unit, int):
                pending.append(unit)
                if len(pending) == native.n_batch or i == last:
                    n_past = native.decode_tokens(main.seq_id, pending, n_past, logits_last=i == last)
                    main.keys.extend(keys[i + 1 - len(pending) : i + 1])
                    main.positions.extend([1] * len(pending))
                    pending = []
                i += 1
                continue
            if pending:
                n_past = native.decode_tokens(main.seq_id, pending, n_past, logits_last=False)
                main.keys.extend(keys[i - len(pending) : i])
                main.positions.extend([1] * len(pending))
                pending = []
            # A request admitted before this one may have read the same image meanwhile: copy its KV;
            # if it is about to read it, wait a step for it (the image is read once, then copied).
            reused = self.slots.reuse(main, slots, job.units, keys, i)
            if reused > i:
                if not native.keep_prefix(main.seq_id, sum(main.positions[:reused])):
                    raise RuntimeError("llama.cpp could not trim a copied KV stream")
                del main.keys[reused:], main.positions[reused:]
                job.usage.cached_prompt_tokens += prompt_tokens(job.units[i:reused])
                n_past, i = sum(main.positions), reused
                yield
                continue
            if self._read_ahead(job, keys, i):
                yield
                continue
            n_past = native.decode_image(main.seq_id, unit, n_past)
            main.keys.append(keys[i])
            main.positions.append(unit.n_pos)
            i += 1
            yield

        for slot in slots[1:]:
            native.copy(main.seq_id, slot.seq_id)
            slot.keys, slot.positions = list(main.keys), list(main.positions)

        cells = prompt_tokens(job.units)
        max_tokens = min(job.params.max_tokens or self.n_ctx_seq, self.n_ctx_seq - cells)
        for index, slot in enumerate(slots):
            sampler = native.sampler(job.params, index)
            guide = TokenGuide(
                job.constraints[index] if job.constraints else None, job.thinking[index] if job.thinking else None
            )
            stream = TextStream(job.params.stop)
            run = Running(job, index, slot, sampler, max_tokens, stream, n_past, cells, guide=guide)
            job.running += 1
            self._running.append(run)
            self._accept(run, self._sample(run, -1))

    def _read_ahead(self, job: Job, keys: list[int | str], i: int) -> bool:
        """Whether a prefill admitted before ``job``'s is yet to read ``keys[: i + 1]`` too (then ``job`` copies it).

        One that has read it already but was no donor (it shares too few positions) is not waited for;
        nothing is, when the model's KV cannot be trimmed (no copy follows).
        """
        if not self.native.trimmable:
            return False
        for prefill in self._prefilling:
            if prefill.job is job:
                return False
            ahead = common_prefix(prefill.keys, keys) > i
            if ahead and common_prefix(prefill.slots[0].keys, keys) <= i:
                return True
        return False

    def _step(self) -> None:
        """Cancel what was cancelled, then decode one token for every running choice in one batch."""
        for run in [r for r in self._running if r.job.cancelled.is_set()]:
            self._finish(run, FinishReason.CANCELLED)
        if not self._running:
            return
        runs = list(self._running)
        self.peak_running = max(self.peak_running, len(runs))
        self.native.decode_step([(r.slot.seq_id, r.next_token, r.n_past) for r in runs])
        for j, run in enumerate(runs):
            run.slot.keys.append(run.next_token)
            run.slot.positions.append(1)
            run.n_past += 1
            run.cells += 1
            self._accept(run, self._sample(run, j))

    def _sample(self, run: Running, row: int) -> int:
        """Sample batch row ``row`` for ``run``, its grammar's forbidden tokens masked out first.

        A thinking choice whose budget is spent emits its end tag instead; its grammar waits for the answer.
        """
        forced = run.guide.forced()
        if forced is not None:
            return forced
        if run.guide.masking:
            # Several choices of one job share the prefill's row: each masks it for itself just before sampling.
            run.guide.mask(self.native.logits(row))
        return self.native.sample(run.sampler, row)

    def _accept(self, run: Running, token: int) -> None:
        """Handle a sampled token: finish on end-of-generation, stop sequence or a limit; else emit it."""
        if self.native.is_eog(token):
            self._finish(run, FinishReason.STOP)
            return
        run.generated += 1
        complete = run.guide.advance(token)
        text = run.text.push(self.piece(token))
        if complete:  # the grammar is complete: the answer is whole
            self._finish(run, FinishReason.STOP, text + run.text.flush())
        elif run.text.stopped:
            self._finish(run, FinishReason.STOP, text)
        elif run.generated >= run.max_tokens or run.cells + 1 >= self.n_ctx_seq:
            self._finish(run, FinishReason.LENGTH, text + run.text.flush())
        else:
            run.next_token = token
            if text:
                self._emit(run.job, Delta(index=run.index, text=text))

    def piece(self, token: int) -> bytes:
        """A generated token's bytes in the answer's text (special tokens left out, but ``keep``)."""
        return self.native.piece(token, special=token in self.keep)

    def _finish(self, run: Running, reason: FinishReason, text: str = "", error: BaseException | None = None) -> None:
        job = run.job
        self._running.remove(run)
        self.native.free_sampler(run.sampler)
        run.slot.busy = False
        job.running -= 1
        job.usage.completion_tokens += run.generated
        job.usage.reasoning_tokens += run.guide.reasoning_tokens
        if reason is FinishReason.CANCELLED:
            return
        if error is not None:
            self.slots.reset(run.slot)
            if not job.cancelled.is_set():
                job.cancelled.set()
                self._emit(job, error)
            return
        usage = job.usage if job.running == 0 else None  # the stream's very last delta carries usage
        self._emit(job, Delta(index=run.index, text=text, finish_reason=reason, usage=usage))
        if usage is not None:
            self._emit(job, None)

    def _emit(self, job: Job, item: Delta | BaseException | None) -> None:
        try:
            job.emit(item)
        except RuntimeError:  # the caller's event loop is gone: nobody listens any more
            job.cancelled.set()
