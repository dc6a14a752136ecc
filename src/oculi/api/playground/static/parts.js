// The message being composed: images and text blocks, in the order the user arranges them.
//
// Each image is counted by the server (`POST /v1/image-tokens`) for its own `detail` and
// the question being composed (an `auto` image's level may depend on both: the server says
// which level it chose and why, shown under the image), and its tile grid is drawn over it from the server's answer (cols × rows equal cells of
// the image: the image is resized to cols·448 × rows·448 and cut row by row). Nothing
// about tiling is computed here. A refused image shows the server's message instead, naming the
// image by its position among the page's images (each is counted alone, so the server always
// says "Image 0"), and its file name in place of a preview the browser could not draw.

import { ApiError, call } from "./api.js";

const DETAILS = ["auto", "low", "high"];
let nextId = 1;

/** The composer's parts list, rendered into `list` (an <ol>). */
export class Parts {
  constructor(list, { model, question, onChange }) {
    this.list = list;
    this.items = [];
    this.model = model; // () => the selected model id
    this.question = question; // () => the text the images will be sent with
    this.onChange = onChange;
  }

  get images() {
    return this.items.filter((p) => p.kind === "image");
  }

  /** Image tokens of all counted images, and whether any image is still pending or refused. */
  summary() {
    const images = this.images;
    return {
      count: images.length,
      tokens: images.reduce((sum, p) => sum + (p.count ? p.count.image_tokens : 0), 0),
      pending: images.some((p) => p.pending),
      refused: images.filter((p) => p.error),
    };
  }

  async addFile(file, name) {
    const part = this._image({ name: name || file.name || "image", source: "file" });
    part.previewUrl = URL.createObjectURL(file);
    part.mime = /^image\/(jpeg|png)$/.test(file.type) ? file.type : file.type || "image/jpeg";
    try {
      part.url = await readDataUrl(file);
    } catch (err) {
      part.error = `The browser could not read this file (${err.message}).`;
      this._render(part);
      return;
    }
    await this.count(part);
  }

  async addUrl(url) {
    const part = this._image({ name: url, source: "url" });
    part.url = url;
    await this.count(part);
  }

  addText(text = "") {
    const part = { kind: "text", id: nextId++, text };
    this.items.push(part);
    this._render(part);
    this.onChange();
    part.element.querySelector("textarea").focus();
    return part;
  }

  /** Count every image again (another model may tile differently). */
  recountAll() {
    return Promise.all(this.images.filter((p) => p.url).map((p) => this.count(p)));
  }

  /**
   * Count the `auto` images again for a changed question (only their level can depend on it).
   * Quietly: the image keeps its drawing until the answer differs, so nothing on the page moves
   * under the pointer while the question box loses focus.
   */
  recountForQuestion() {
    const auto = this.images.filter((p) => p.url && p.detail === "auto" && p.count);
    return Promise.all(auto.map((p) => this.count(p, { quiet: true })));
  }

  /** Ask the server what `part` costs at its detail; render the grid or the refusal. */
  async count(part, { quiet = false } = {}) {
    const ticket = (part.ticket = (part.ticket || 0) + 1);
    const before = part.count;
    if (!quiet) {
      part.pending = true;
      this._render(part);
      this.onChange();
    }
    let count = null;
    let error = null;
    try {
      const answer = await call("/v1/image-tokens", {
        method: "POST",
        body: {
          model: this.model() || undefined,
          image_url: part.url,
          detail: part.detail,
          question: (this.question && this.question()) || undefined,
        },
      });
      count = answer.images[0];
    } catch (err) {
      error = err instanceof ApiError ? err.display : String(err);
    }
    if (ticket !== part.ticket || !this.items.includes(part)) return; // a newer count won
    if (quiet && !error && JSON.stringify(count) === JSON.stringify(before)) return; // same answer: keep the page still
    Object.assign(part, { pending: false, count, error });
    this._render(part);
    this.onChange();
  }

  clear() {
    for (const part of this.items) if (part.previewUrl) URL.revokeObjectURL(part.previewUrl);
    this.items = [];
    this.list.replaceChildren();
    this.onChange();
  }

  /** Hand the parts over (for the transcript) and start an empty message; previews stay alive. */
  take() {
    const taken = this.items;
    this.items = [];
    this.list.replaceChildren();
    this.onChange();
    return taken;
  }

  /** Put parts that were taken back in front of whatever was added since. */
  restore(taken) {
    this.items = [...taken, ...this.items];
    this.list.replaceChildren(...this.items.map((p) => p.element));
    this.onChange();
  }

  _image(fields) {
    const part = { kind: "image", id: nextId++, detail: "auto", pending: false, count: null, error: null, ...fields };
    this.items.push(part);
    this._render(part);
    this.onChange();
    return part;
  }

  _move(part, step) {
    const i = this.items.indexOf(part);
    const j = i + step;
    if (j < 0 || j >= this.items.length) return;
    [this.items[i], this.items[j]] = [this.items[j], this.items[i]];
    this.list.replaceChildren(...this.items.map((p) => p.element));
    this._renumber();
    part.element.querySelector(step < 0 ? ".move-up" : ".move-down").focus();
    this.onChange();
  }

  _remove(part) {
    const i = this.items.indexOf(part);
    this.items.splice(i, 1);
    part.element.remove();
    if (part.previewUrl) URL.revokeObjectURL(part.previewUrl);
    this._renumber();
    const neighbour = this.items[Math.min(i, this.items.length - 1)];
    if (neighbour) neighbour.element.querySelector(".remove").focus();
    this.onChange();
  }

  /** Refusals name images by position: render them again after images moved or went away. */
  _renumber() {
    for (const part of this.images) if (part.error) this._render(part);
  }

  /** The server's refusal of `part` with the image named by its position on the page. */
  _refusal(part) {
    const position = this.images.indexOf(part);
    return part.error.replace(/^((?:\d{3} · )?)Image 0: /, `$1Image ${position}: `);
  }

  _render(part) {
    const li = el("li", { className: `part part-${part.kind}` });
    li.append(part.kind === "image" ? this._imageBody(part) : this._textBody(part), this._tools(part));
    if (part.element && part.element.parentNode === this.list) {
      // Keep focus where it was (e.g. on the detail picker) across a re-render.
      const focused = part.element.contains(document.activeElement) ? document.activeElement.className : null;
      part.element.replaceWith(li);
      if (focused) li.querySelector(`.${focused.split(" ")[0]}`)?.focus();
    } else {
      this.list.append(li);
    }
    part.element = li;
  }

  _textBody(part) {
    const id = `text-${part.id}`;
    const label = el("label", { htmlFor: id, textContent: "Text" });
    const area = el("textarea", { id, rows: 2, value: part.text, className: "text-block" });
    area.addEventListener("input", () => {
      part.text = area.value;
      this.onChange();
    });
    return el("div", { className: "part-body" }, label, area);
  }

  _imageBody(part) {
    const body = el("div", { className: "part-body image-body" });
    body.append(imageFrame(part));
    const info = el("div", { className: "image-info" });
    info.append(el("p", { className: "image-name", textContent: part.name, title: part.name }));
    const selectId = `detail-${part.id}`;
    const select = el("select", { id: selectId, className: "detail" });
    for (const d of DETAILS) select.append(el("option", { value: d, textContent: d, selected: d === part.detail }));
    select.addEventListener("change", () => {
      part.detail = select.value;
      this.count(part);
    });
    info.append(el("div", { className: "detail-row" }, el("label", { htmlFor: selectId, textContent: "Detail" }), select));
    if (part.pending) info.append(el("p", { className: "cost pending", textContent: "Counting…" }));
    else if (part.error) info.append(el("p", { className: "error", role: "alert", textContent: this._refusal(part) }));
    else if (part.count) info.append(...describe(part.count));
    if (part.count && !part.error && !part.pending) info.append(thumbnailView(part));
    body.append(info);
    return body;
  }

  _tools(part) {
    const what = part.kind === "image" ? `image ${part.name}` : "text block";
    const tools = el("div", { className: "part-tools" });
    const button = (cls, text, label, action) => {
      const b = el("button", { type: "button", className: cls, textContent: text, title: label });
      b.setAttribute("aria-label", label);
      b.addEventListener("click", action);
      tools.append(b);
    };
    button("move-up", "↑", `Move ${what} up`, () => this._move(part, -1));
    button("move-down", "↓", `Move ${what} down`, () => this._move(part, 1));
    button("remove", "✕", `Remove ${what}`, () => this._remove(part));
    return tools;
  }
}

/** The cost lines of a count: "6 tiles + thumbnail · 1792 image tokens", the grid facts, the level and why. */
export function describe(count) {
  const tiles = count.tiles === 1 ? "1 tile" : `${count.tiles} tiles`;
  const views = count.detail === "low" ? "1 view (whole image)" : count.thumbnail ? `${tiles} + thumbnail` : tiles;
  const grid =
    count.detail === "low"
      ? `low · ${count.width} × ${count.height} px resized to one ${count.tile_size}-px view`
      : `high · ${count.cols} × ${count.rows} grid of ${count.tile_size}-px tiles · ${count.width} × ${count.height} px`;
  return [
    el("p", { className: "cost", textContent: `${views} · ${count.image_tokens} image tokens` }),
    el("p", { className: "grid-facts", textContent: grid }),
    el("p", { className: "detail-reason", textContent: `${count.detail} detail: ${count.reason}` }),
  ];
}

function imageFrame(part) {
  const frame = el("div", { className: "frame" });
  const count = part.count && !part.error ? part.count : null;
  if (part.previewUrl && part.error) {
    // A refused file may be no image at all: its name, not a broken-image icon.
    frame.classList.add("refused");
    frame.append(el("span", { className: "refused-name", textContent: part.name, title: part.name }));
  } else if (part.previewUrl) {
    frame.append(el("img", { src: part.previewUrl, alt: `Image ${part.name}` }));
  } else {
    // An http(s) image: the server fetched it; the page itself makes no request to that host.
    frame.classList.add("remote");
    if (count) frame.style.aspectRatio = `${count.width} / ${count.height}`;
    const note = part.pending ? "the server is fetching it…" : part.error ? "not usable" : "fetched by the server";
    frame.append(el("span", { className: "remote-note", textContent: note }));
  }
  if (count) {
    const grid = el("div", { className: `grid grid-${count.detail}` });
    grid.setAttribute("aria-hidden", "true");
    grid.style.gridTemplateColumns = `repeat(${count.cols}, 1fr)`;
    grid.style.gridTemplateRows = `repeat(${count.rows}, 1fr)`;
    for (let i = 1; i <= count.cols * count.rows; i++) {
      const label = el("span", { className: "tile-label", textContent: count.detail === "low" ? "1 view" : `${i}` });
      grid.append(el("span", { className: "tile" }, label));
    }
    frame.append(grid);
  }
  return frame;
}

function thumbnailView(part) {
  const count = part.count;
  const label = count.detail === "low" ? "the one view" : "thumbnail";
  const box = el("figure", { className: "thumbnail" });
  if (part.previewUrl) box.append(el("img", { src: part.previewUrl, alt: "" }));
  else box.append(el("span", { className: "thumbnail-blank" }));
  box.append(el("figcaption", { textContent: `${label}: ${count.tile_size}×${count.tile_size}` }));
  return box;
}

function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      // Unknown types are labelled image/jpeg, as the official clients do; the server sniffs the bytes.
      const url = String(reader.result);
      resolve(/^data:image\//.test(url) ? url : url.replace(/^data:[^;,]*/, "data:image/jpeg"));
    };
    reader.onerror = () => reject(reader.error || new Error("read failed"));
    reader.readAsDataURL(file);
  });
}

/** A DOM element with properties and children (text always via textContent, never parsed as HTML). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "role" || key === "title") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}
