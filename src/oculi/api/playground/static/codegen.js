// "View code": the request the page would send now, as curl, openai (Python), xai-sdk and
// openai (JavaScript) code against this server.
//
// Images the user picked from disk (or pasted) appear as their file name, read and
// base64-encoded by the code itself (so the code stays short and runs next to the file);
// http(s) images appear as their URL. The key is read from $OCULI_API_KEY, never printed.

const KEY_ENV = "OCULI_API_KEY";

/**
 * `request`: {origin, grpcPort, auth, model, parts: [{kind: "text", text} | {kind: "image", source,
 * name, mime, url, detail}], maxOutputTokens, temperature, previousResponseId}.
 */
export function generate(language, request) {
  return { curl, python: openaiPython, xai: xaiPython, javascript: openaiJavaScript }[language](request);
}

export const LANGUAGES = [
  ["curl", "curl"],
  ["python", "Python (openai)"],
  ["xai", "Python (xai-sdk)"],
  ["javascript", "JavaScript (openai)"],
];

/** A file name for an image that came from the disk or the clipboard. */
function fileName(part) {
  return part.name;
}

function mimeOf(part) {
  return /^image\/(png|jpeg)$/.test(part.mime || "") ? part.mime : "image/jpeg";
}

function isFile(part) {
  return part.kind === "image" && part.source === "file";
}

// --- curl ------------------------------------------------------------------------------

function shellQuote(text) {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function curl(r) {
  const placeholders = new Map();
  const content = r.parts.map((part) => {
    if (part.kind === "text") return { type: "input_text", text: part.text };
    let url = part.url;
    if (isFile(part)) {
      url = `@@IMAGE${placeholders.size}@@`;
      placeholders.set(url, `data:${mimeOf(part)};base64,$(base64 -w0 ${shellQuote(fileName(part))})`);
    }
    return { type: "input_image", image_url: url, detail: part.detail };
  });
  const body = { model: r.model, input: [{ role: "user", content }], ...options(r), stream: true };
  // An unquoted here-document: $(…) runs, so \ $ ` in the JSON itself are escaped.
  let json = JSON.stringify(body, null, 2).replace(/[\\$`]/g, (c) => `\\${c}`);
  for (const [mark, value] of placeholders) json = json.replace(mark, () => value);
  const lines = [
    `curl -sN ${r.origin}/v1/responses \\`,
    `  -H "Content-Type: application/json" \\`,
    ...(r.auth ? [`  -H "Authorization: Bearer $${KEY_ENV}" \\`] : []),
    "  --data-binary @- <<EOF",
    json,
    "EOF",
  ];
  return lines.join("\n");
}

function options(r) {
  const out = {};
  if (r.previousResponseId) out.previous_response_id = r.previousResponseId;
  if (r.maxOutputTokens) out.max_output_tokens = r.maxOutputTokens;
  if (r.temperature !== null && r.temperature !== undefined) out.temperature = r.temperature;
  return out;
}

// --- Python ----------------------------------------------------------------------------

const str = (text) => JSON.stringify(text); // a JSON string literal is a valid Python/JS string literal

function pyKey(r) {
  return r.auth ? `os.environ[${str(KEY_ENV)}]` : `"none"`;
}

const PY_DATA_URL = [
  "def data_url(path: str, mime: str) -> str:",
  `    with open(path, "rb") as f:`,
  `        return f"data:{mime};base64,{base64.b64encode(f.read()).decode()}"`,
];

function pyImage(part) {
  return isFile(part) ? `data_url(${str(fileName(part))}, ${str(mimeOf(part))})` : str(part.url);
}

function openaiPython(r) {
  const files = r.parts.some(isFile);
  const content = r.parts.map((part) =>
    part.kind === "text"
      ? `                {"type": "input_text", "text": ${str(part.text)}},`
      : `                {"type": "input_image", "image_url": ${pyImage(part)}, "detail": ${str(part.detail)}},`,
  );
  const extra = Object.entries(options(r)).map(([k, v]) => `    ${k}=${str(v)},`);
  return [
    ...(files ? ["import base64"] : []),
    ...(r.auth || files ? ["import os", ""] : []),
    "from openai import OpenAI",
    "",
    ...(files ? [...PY_DATA_URL, "", ""] : []),
    ...(r.auth ? [] : ["# This server has no API keys: any api_key is accepted."]),
    `client = OpenAI(base_url=${str(r.origin + "/v1")}, api_key=${pyKey(r)})`,
    "stream = client.responses.create(",
    `    model=${str(r.model)},`,
    "    input=[",
    "        {",
    `            "role": "user",`,
    `            "content": [`,
    ...content,
    "            ],",
    "        }",
    "    ],",
    ...extra,
    "    stream=True,",
    ")",
    "for event in stream:",
    `    if event.type == "response.output_text.delta":`,
    `        print(event.delta, end="", flush=True)`,
    `    elif event.type in ("response.completed", "response.incomplete"):`,
    "        print()",
    "        print(event.response.id, event.response.usage)",
  ].join("\n");
}

function xaiPython(r) {
  const files = r.parts.some(isFile);
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(r.hostname);
  // xai-sdk talks plain (non-TLS) gRPC to "localhost:PORT" only; elsewhere it must be told.
  const host = `${local ? "localhost" : r.hostname}:${r.grpcPort}`;
  const pieces = r.parts.map((part) =>
    part.kind === "text" ? `        ${str(part.text)},` : `        image(${pyImage(part)}, detail=${str(part.detail)}),`,
  );
  const create = [`model=${str(r.model)}`];
  if (r.previousResponseId) create.push(`previous_response_id=${str(r.previousResponseId)}`);
  create.push("store_messages=True");
  if (r.maxOutputTokens) create.push(`max_tokens=${r.maxOutputTokens}`);
  if (r.temperature !== null && r.temperature !== undefined) create.push(`temperature=${r.temperature}`);
  return [
    ...(files ? ["import base64"] : []),
    ...(r.auth || files ? ["import os", ""] : []),
    "from xai_sdk import Client",
    "from xai_sdk.chat import image, user",
    "",
    ...(files ? [...PY_DATA_URL, "", ""] : []),
    ...(r.auth ? [] : ["# This server has no API keys: any api_key is accepted."]),
    local
      ? `client = Client(api_host=${str(host)}, api_key=${pyKey(r)})`
      : `client = Client(api_host=${str(host)}, api_key=${pyKey(r)}, use_insecure_channel=True)`,
    `chat = client.chat.create(${create.join(", ")})`,
    "chat.append(",
    "    user(",
    ...pieces,
    "    )",
    ")",
    "for response, chunk in chat.stream():",
    `    print(chunk.content, end="", flush=True)`,
    "print()",
    "print(response.id, response.usage)",
  ].join("\n");
}

// --- JavaScript ------------------------------------------------------------------------

function openaiJavaScript(r) {
  const files = r.parts.some(isFile);
  const content = r.parts.map((part) => {
    if (part.kind === "text") return `        { type: "input_text", text: ${str(part.text)} },`;
    const url = isFile(part) ? `dataUrl(${str(fileName(part))}, ${str(mimeOf(part))})` : str(part.url);
    return `        { type: "input_image", image_url: ${url}, detail: ${str(part.detail)} },`;
  });
  const extra = Object.entries(options(r)).map(([k, v]) => `  ${k}: ${str(v)},`);
  const key = r.auth ? `process.env.${KEY_ENV}` : `"none" /* this server has no API keys */`;
  return [
    ...(files ? [`import fs from "node:fs";`] : []),
    `import OpenAI from "openai";`,
    "",
    ...(files
      ? [
          "const dataUrl = (path, mime) => `data:${mime};base64,${fs.readFileSync(path).toString(\"base64\")}`;",
          "",
        ]
      : []),
    `const client = new OpenAI({ baseURL: ${str(r.origin + "/v1")}, apiKey: ${key} });`,
    "const stream = await client.responses.create({",
    `  model: ${str(r.model)},`,
    "  input: [",
    "    {",
    `      role: "user",`,
    "      content: [",
    ...content,
    "      ],",
    "    },",
    "  ],",
    ...extra,
    "  stream: true,",
    "});",
    "for await (const event of stream) {",
    `  if (event.type === "response.output_text.delta") process.stdout.write(event.delta);`,
    `  else if (event.type === "response.completed" || event.type === "response.incomplete")`,
    "    console.log(`\\n${event.response.id}`, event.response.usage);",
    "}",
  ].join("\n");
}
