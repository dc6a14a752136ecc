// The page's only way to the server: the public HTTP API, with the user's key.
//
// Every call goes through `call` (JSON) or `stream` (Server-Sent Events read from
// fetch's ReadableStream), which add `Authorization: Bearer <key>` when a key is set
// and turn a non-2xx answer into an ApiError carrying the server's own message
// (`{"code", "error"}`, SPEC §6), so the page shows exactly what the server said.

const KEY_STORAGE = "oculi.apiKey";

/** An answer the server refused: HTTP status, the server's code and its message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }

  /** The message as shown to a person: "401 · <server message>". */
  get display() {
    return this.status ? `${this.status} · ${this.message}` : this.message;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = getKey();
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

async function errorFrom(response) {
  let code = "";
  let message = `${response.statusText || "request failed"}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === "string") message = body.error;
    else if (body && body.error && typeof body.error.message === "string") message = body.error.message;
    if (body && typeof body.code === "string") code = body.code;
  } catch {
    // Not JSON (a proxy's page, say): keep the status text.
  }
  return new ApiError(response.status, code, message);
}

async function send(path, { method = "GET", body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "network", `Could not reach the oculi server (${err.message}).`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

/** GET or POST `path` and return the parsed JSON answer. */
export async function call(path, options) {
  const response = await send(path, options);
  return response.json();
}

/** The page's configuration: `{auth, grpc_port}` (open, served with the page). */
export async function pageConfig() {
  const response = await fetch("/playground/config.json");
  return response.json();
}

/**
 * POST `body` to `path` and yield its Server-Sent Events as `{event, data}` (data parsed as JSON).
 * Aborting `signal` closes the connection, which stops the generation on the server.
 */
export async function* stream(path, body, signal) {
  const response = await send(path, { method: "POST", body, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const parsed = parseEvent(block);
        if (parsed) yield parsed;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return null;
  const text = data.join("\n");
  if (text === "[DONE]") return null;
  return { event, data: JSON.parse(text) };
}
