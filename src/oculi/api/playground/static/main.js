// The playground's wiring: key, models, adding images, sending, stopping, "View code".

import { ApiError, call, getKey, pageConfig, setKey } from "./api.js";
import { generate, LANGUAGES } from "./codegen.js";
import { Conversation } from "./conversation.js";
import { el, Parts } from "./parts.js";

const $ = (id) => document.getElementById(id);
const ui = {
  model: $("model"),
  keyButton: $("key-button"),
  keyPanel: $("key-panel"),
  keyForm: $("key-form"),
  keyInput: $("key-input"),
  keyStatus: $("key-status"),
  dropZone: $("drop-zone"),
  fileInput: $("file-input"),
  urlForm: $("url-form"),
  urlInput: $("url-input"),
  total: $("image-total"),
  prompt: $("prompt"),
  maxTokens: $("max-tokens"),
  temperature: $("temperature"),
  send: $("send"),
  stop: $("stop"),
  status: $("status"),
  codePanel: $("code-panel"),
  codeTabs: $("code-tabs"),
  code: document.querySelector("#code code"),
  viewCode: $("view-code"),
  copyStatus: $("copy-status"),
};

const state = { config: { auth: false, grpc_port: null }, controller: null, language: "curl", pasted: 0 };
const parts = new Parts($("parts"), { model: () => ui.model.value, question: questionText, onChange: changed });
const conversation = new Conversation($("conversation"));

function status(text, isError = false) {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", isError);
}

function changed() {
  const s = parts.summary();
  ui.total.textContent = s.count
    ? `${s.count} image${s.count === 1 ? "" : "s"} · ${s.tokens} image tokens${s.pending ? " (counting…)" : ""}`
    : "";
  if (!ui.codePanel.hidden) renderCode();
}

// --- API key ---------------------------------------------------------------------------

function showKeyPanel(message = "") {
  ui.keyPanel.hidden = false;
  ui.keyStatus.textContent = message;
  ui.keyInput.value = getKey();
  ui.keyInput.focus();
}

function unauthorized(err) {
  if (err instanceof ApiError && err.status === 401) {
    showKeyPanel(err.display);
    return true;
  }
  return false;
}

ui.keyButton.addEventListener("click", () => (ui.keyPanel.hidden ? showKeyPanel() : (ui.keyPanel.hidden = true)));
ui.keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  setKey(ui.keyInput.value.trim());
  if (await loadModels()) {
    ui.keyPanel.hidden = true;
    status("Key accepted.");
    parts.recountAll();
  }
});
$("key-forget").addEventListener("click", () => {
  setKey("");
  ui.keyInput.value = "";
  ui.keyStatus.textContent = "Key forgotten.";
});

// --- models ----------------------------------------------------------------------------

async function loadModels() {
  let list;
  try {
    list = await call("/v1/models");
  } catch (err) {
    if (!unauthorized(err)) status(`Could not list the models: ${err.display || err.message}`, true);
    return false;
  }
  const previous = ui.model.value;
  ui.model.replaceChildren(...list.data.map((m) => el("option", { value: m.id, textContent: m.id })));
  if (list.data.some((m) => m.id === previous)) ui.model.value = previous;
  ui.model.disabled = false;
  changed();
  return true;
}

ui.model.addEventListener("change", () => {
  parts.recountAll();
  changed();
});

// --- adding images ---------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) parts.addFile(file);
}

$("choose-files").addEventListener("click", () => ui.fileInput.click());
ui.fileInput.addEventListener("change", () => {
  addFiles([...ui.fileInput.files]);
  ui.fileInput.value = "";
});
$("add-text").addEventListener("click", () => parts.addText());

ui.urlForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = ui.urlInput.value.trim();
  if (!/^https?:\/\/\S+$/i.test(url)) {
    status("Give an http:// or https:// image URL.", true);
    ui.urlInput.focus();
    return;
  }
  parts.addUrl(url);
  ui.urlInput.value = "";
  status("");
});

for (const type of ["dragenter", "dragover"]) {
  ui.dropZone.addEventListener(type, (event) => {
    event.preventDefault();
    ui.dropZone.classList.add("dragging");
  });
}
ui.dropZone.addEventListener("dragleave", () => ui.dropZone.classList.remove("dragging"));
ui.dropZone.addEventListener("drop", (event) => {
  event.preventDefault();
  ui.dropZone.classList.remove("dragging");
  const files = [...event.dataTransfer.files];
  if (files.length) return addFiles(files);
  const url = (event.dataTransfer.getData("text/uri-list") || event.dataTransfer.getData("text/plain")).trim();
  if (/^https?:\/\//i.test(url)) parts.addUrl(url.split(/\s+/)[0]);
});
// Drops outside the zone must not navigate away from the page.
window.addEventListener("dragover", (event) => event.preventDefault());
window.addEventListener("drop", (event) => event.preventDefault());

document.addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files || [])].filter((f) => f.type.startsWith("image/"));
  if (!files.length) return; // plain text pastes into the focused field as usual
  event.preventDefault();
  for (const file of files) {
    state.pasted += 1;
    const ext = file.type === "image/jpeg" ? "jpg" : "png";
    parts.addFile(file, `pasted-${state.pasted}.${ext}`);
  }
});

// --- asking ----------------------------------------------------------------------------

/** The parts to send: the composer's, then the question box's text. */
function messageParts() {
  const list = parts.items.filter((p) => p.kind === "image" || p.text.trim());
  const question = ui.prompt.value.trim();
  return question ? [...list, { kind: "text", text: question }] : list;
}

/** The text the images go out with (text blocks and the question box): it may decide an `auto` level. */
function questionText() {
  return messageParts()
    .filter((p) => p.kind === "text")
    .map((p) => p.text)
    .join("\n");
}

function options() {
  const max = parseInt(ui.maxTokens.value, 10);
  const temperature = parseFloat(ui.temperature.value);
  return {
    maxOutputTokens: Number.isFinite(max) && max > 0 ? max : null,
    temperature: Number.isFinite(temperature) ? temperature : null,
  };
}

function requestBody(message) {
  const { maxOutputTokens, temperature } = options();
  const content = message.map((p) =>
    p.kind === "text"
      ? { type: "input_text", text: p.text }
      : { type: "input_image", image_url: p.url, detail: p.detail },
  );
  const body = { model: ui.model.value, input: [{ role: "user", content }], stream: true };
  if (conversation.previousResponseId) body.previous_response_id = conversation.previousResponseId;
  if (maxOutputTokens) body.max_output_tokens = maxOutputTokens;
  if (temperature !== null) body.temperature = temperature;
  return body;
}

async function send() {
  if (state.controller) return;
  const message = messageParts();
  const s = parts.summary();
  if (!ui.model.value) return status("No model to ask yet: the model list has not loaded.", true);
  if (!message.length) return status("Add an image or type a question first.", true);
  if (s.pending) return status("Wait until every image is counted.", true);
  if (s.refused.length) return status("Remove the images the server refused before sending.", true);
  const body = requestBody(message);
  const taken = parts.take();
  const question = ui.prompt.value;
  ui.prompt.value = "";
  conversation.addUserTurn(message);
  state.controller = new AbortController();
  ui.send.disabled = true;
  ui.stop.disabled = false;
  status("Generating…");
  const result = await conversation.ask(body, state.controller.signal);
  state.controller = null;
  ui.send.disabled = false;
  ui.stop.disabled = true;
  if (result.refused) {
    // Nothing was generated: give the message back so it can be fixed and sent again.
    conversation.giveBack(taken);
    parts.restore(taken);
    ui.prompt.value = question;
    if (!unauthorized(result.exception)) status(`The server refused the request: ${result.error}`, true);
  } else {
    status({ completed: "Answer complete.", incomplete: "Answer cut at max output tokens.", stopped: "Stopped." }[
      result.outcome
    ] || `Failed: ${result.error}`, result.outcome === "failed");
  }
  changed();
  ui.prompt.focus();
}

ui.send.addEventListener("click", send);
ui.prompt.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    send();
  }
});
ui.stop.addEventListener("click", () => state.controller?.abort());
$("new-conversation").addEventListener("click", () => {
  state.controller?.abort();
  conversation.reset();
  status("New conversation: the next question starts fresh.");
  changed();
  ui.prompt.focus();
});

// --- View code -------------------------------------------------------------------------

function renderCode() {
  const { maxOutputTokens, temperature } = options();
  const placeholder = [{ kind: "text", text: "What's in this image?" }];
  const message = messageParts();
  ui.code.textContent = generate(state.language, {
    origin: location.origin,
    hostname: location.hostname,
    grpcPort: state.config.grpc_port || 50051,
    auth: state.config.auth,
    model: ui.model.value || "grok-4",
    parts: message.length ? message : placeholder,
    maxOutputTokens,
    temperature,
    previousResponseId: conversation.previousResponseId,
  });
  const pasted = message.filter((p) => p.kind === "image" && p.source === "file" && /^pasted-/.test(p.name));
  const note = $("code-note");
  note.hidden = !pasted.length;
  note.textContent = pasted.length
    ? `Pasted images have no file: save them as ${pasted.map((p) => p.name).join(", ")} next to the code.`
    : "";
  for (const tab of ui.codeTabs.children) tab.setAttribute("aria-selected", String(tab.dataset.language === state.language));
}

for (const [language, label] of LANGUAGES) {
  const tab = el("button", { type: "button", textContent: label, className: "tab" });
  tab.dataset.language = language;
  tab.setAttribute("role", "tab");
  tab.addEventListener("click", () => {
    state.language = language;
    renderCode();
  });
  ui.codeTabs.append(tab);
}
ui.codeTabs.addEventListener("keydown", (event) => {
  if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
  const tabs = [...ui.codeTabs.children];
  const i = tabs.findIndex((t) => t.dataset.language === state.language);
  const next = tabs[(i + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  state.language = next.dataset.language;
  renderCode();
  next.focus();
});

ui.viewCode.addEventListener("click", () => {
  ui.codePanel.hidden = !ui.codePanel.hidden;
  ui.viewCode.setAttribute("aria-expanded", String(!ui.codePanel.hidden));
  if (!ui.codePanel.hidden) {
    renderCode();
    ui.codePanel.scrollIntoView({ block: "nearest" });
  }
});
for (const input of [ui.prompt, ui.maxTokens, ui.temperature]) input.addEventListener("input", changed);
// A finished edit of the question may change the level an `auto` image gets: count again.
ui.prompt.addEventListener("change", () => parts.recountForQuestion());

$("copy-code").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(ui.code.textContent);
    ui.copyStatus.textContent = "Copied.";
  } catch {
    // No clipboard permission (e.g. plain http on another host): select it for Ctrl+C instead.
    getSelection().selectAllChildren(ui.code);
    ui.copyStatus.textContent = "Selected: press Ctrl+C to copy.";
  }
});

// --- start -----------------------------------------------------------------------------

async function start() {
  try {
    state.config = await pageConfig();
  } catch (err) {
    status(`Could not reach the oculi server (${err.message}).`, true);
    return;
  }
  ui.keyButton.hidden = !state.config.auth;
  if (state.config.auth && !getKey()) {
    showKeyPanel();
    status("This server needs an API key: enter it above.");
    return;
  }
  await loadModels();
}

start();
