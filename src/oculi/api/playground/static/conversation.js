// The transcript, and asking: one streamed `POST /v1/responses` per turn.
//
// The answer is appended as `response.output_text.delta` events arrive; a thinking model's
// `response.reasoning_summary_text.delta` events stream into a collapsible "Thinking" section above it
// (open while it thinks, closed once the answer starts); the final
// `response.completed` (or `.incomplete`) event carries the usage shown under it, with the
// time to the first token and the decoding speed measured here. A stored turn's id becomes
// the next question's `previous_response_id`, so the server continues the conversation.
// Stop aborts the fetch: the connection closes and the server stops the generation.

import { ApiError, stream } from "./api.js";
import { el } from "./parts.js";

export class Conversation {
  constructor(container) {
    this.container = container;
    this.previousResponseId = null;
    this.previews = []; // object URLs of the images shown in the transcript (freed on reset)
  }

  reset() {
    this.previousResponseId = null;
    this.container.replaceChildren();
    for (const url of this.previews) URL.revokeObjectURL(url);
    this.previews = [];
  }

  /** The composer owns these parts' previews again (a refused message was given back). */
  giveBack(parts) {
    const urls = new Set(parts.map((p) => p.previewUrl));
    this.previews = this.previews.filter((url) => !urls.has(url));
  }

  /** Show the user's turn: its images (small) and texts, in order. */
  addUserTurn(parts) {
    const turn = el("article", { className: "turn user" });
    turn.append(el("h3", { className: "who", textContent: "You" }));
    for (const part of parts) {
      if (part.kind === "text") {
        turn.append(el("p", { className: "said", textContent: part.text }));
      } else if (part.previewUrl) {
        this.previews.push(part.previewUrl);
        turn.append(el("img", { className: "sent-image", src: part.previewUrl, alt: `Image ${part.name}` }));
      } else {
        turn.append(el("p", { className: "said image-link", textContent: `Image: ${part.name}` }));
      }
    }
    this.container.append(turn);
    turn.scrollIntoView({ block: "nearest" });
    return turn;
  }

  /**
   * Stream the answer to `body` into a new assistant turn.
   * Returns {outcome: "completed" | "incomplete" | "stopped" | "failed", error, refused, exception}.
   * `refused` means the server answered with an error status before any event: nothing was generated.
   */
  async ask(body, signal) {
    const turn = el("article", { className: "turn assistant" });
    const answer = el("div", { className: "answer" });
    const meta = el("p", { className: "meta" });
    const thinking = el("details", { className: "thinking", hidden: true });
    const thought = el("div", { className: "thought" });
    thinking.append(el("summary", { textContent: "Thinking" }), thought);
    turn.append(el("h3", { className: "who", textContent: body.model }), thinking, answer, meta);
    this.container.append(turn);
    const started = performance.now();
    let first = null;
    let final = null;
    let outcome = "completed";
    let error = null;
    let refused = false;
    let exception = null;
    answer.classList.add("streaming");
    try {
      for await (const { event, data } of stream("/v1/responses", body, signal)) {
        const type = data.type || event;
        if (type === "response.reasoning_summary_text.delta") {
          if (first === null) first = performance.now();
          if (thinking.hidden) {
            thinking.hidden = false;
            thinking.open = true;
            thought.classList.add("streaming");
          }
          thought.append(data.delta);
          if (thought.childNodes.length > 64) thought.normalize();
        } else if (type === "response.output_text.delta") {
          if (first === null) first = performance.now();
          if (thought.classList.contains("streaming")) {
            thought.classList.remove("streaming");
            thinking.open = false; // the answer has started: fold the thinking away
          }
          answer.append(data.delta);
          if (answer.childNodes.length > 64) answer.normalize();
        } else if (type === "response.completed" || type === "response.incomplete") {
          final = data.response;
          outcome = type === "response.completed" ? "completed" : "incomplete";
        } else if (type === "response.failed") {
          final = data.response;
          outcome = "failed";
          error = (data.response.error && data.response.error.message) || "The generation failed.";
        } else if (type === "error") {
          outcome = "failed";
          error = data.message || data.error || "The generation failed.";
        }
      }
    } catch (err) {
      if (err.name === "AbortError") {
        outcome = "stopped";
      } else {
        outcome = "failed";
        refused = err instanceof ApiError;
        exception = err;
        error = err instanceof ApiError ? err.display : `The stream broke off (${err.message}).`;
      }
    }
    if (outcome === "completed" && !final) {
      outcome = "failed";
      error = "The stream ended before the answer was complete.";
    }
    answer.classList.remove("streaming");
    thought.classList.remove("streaming");
    answer.normalize();
    thought.normalize();
    const ended = performance.now();
    if (outcome === "completed" || outcome === "incomplete") {
      if (final && final.id) {
        turn.dataset.responseId = final.id;
        if (body.store !== false) this.previousResponseId = final.id;
      }
      meta.textContent = describeUsage(final, started, first, ended, outcome);
    } else if (outcome === "stopped") {
      meta.textContent = "Stopped. (Not stored: a follow-up continues from the previous answer.)";
    } else {
      turn.classList.add("failed");
      answer.append(el("p", { className: "error", role: "alert", textContent: error }));
    }
    turn.scrollIntoView({ block: "nearest" });
    return { outcome, error, refused, exception, turn };
  }
}

function describeUsage(response, started, first, ended, outcome) {
  const parts = [];
  const usage = response && response.usage;
  if (usage) {
    const details = usage.input_tokens_details || {};
    const reasoning = (usage.output_tokens_details && usage.output_tokens_details.reasoning_tokens) || 0;
    parts.push(
      `image ${details.image_tokens ?? 0} · text ${details.text_tokens ?? usage.input_tokens} · ` +
        `completion ${usage.output_tokens} tokens` +
        (reasoning ? ` (reasoning ${reasoning})` : ""),
    );
    for (const [i, d] of (details.image_details || []).entries()) parts.push(`image ${i}: ${d.detail} (${d.reason})`);
  }
  if (first !== null) {
    parts.push(`first token ${seconds(first - started)}`);
    const out = usage ? usage.output_tokens : 0;
    if (out > 1 && ended > first) parts.push(`${((out - 1) / ((ended - first) / 1000)).toFixed(1)} tokens/s`);
  }
  parts.push(`total ${seconds(ended - started)}`);
  if (outcome === "incomplete") parts.push("cut at max output tokens");
  if (response && response.id) parts.push(response.id);
  return parts.join(" · ");
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(2)} s`;
}
