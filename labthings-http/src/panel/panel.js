// The labthings control panel: builds a card for every thing from its Thing
// Description. Properties show live values (WebSocket observation for
// observable ones) and can be written; actions get a form generated from
// their input schema, a run button, live status and log, output (blobs as
// download links), and a cancel button; camera streams are shown as images.
// No framework and no build step: this file is served as it is.
//
// Credentials: when the server needs them, the panel asks for an access
// token (or takes one from the address's #token=… fragment, which it then
// removes from the address bar) and keeps it in this tab's sessionStorage.
// It sends it as `Authorization: Bearer` where it can, and as
// `?access_token=` where a browser cannot set headers (WebSocket,
// EventSource, images, links). A user name and password (HTTP Basic) are
// asked for by the browser itself, which then sends them everywhere.
"use strict";

const FINISHED = ["completed", "cancelled", "error"];
const POLL_MS = 250;

/** Create an element: el("div", {class: "x", onclick: f}, child, "text"). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null) node.append(child);
  }
  return node;
}

/**
 * A doc comment as the page shows it: paragraphs (split at blank lines), with
 * `code`, **strong** and *emphasis* of inline Markdown. Built from DOM nodes,
 * never from HTML, so nothing in a TD can inject markup.
 */
function markdown(text, tag = "p", attrs = { class: "doc" }) {
  return (text || "")
    .split(/\n\s*\n/)
    .map((paragraph) => paragraph.replace(/\s*\n\s*/g, " ").trim())
    .filter((paragraph) => paragraph.length > 0)
    .map((paragraph) => el(tag, attrs, ...inline(paragraph)));
}

/** Inline Markdown (`code`, **strong**, *em*, _em_) as nodes; the rest as text. */
function inline(text) {
  const nodes = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*|\b_([^_]+)_\b/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) nodes.push(text.slice(last, match.index));
    const [, code, strong, em, em2] = match;
    if (code !== undefined) nodes.push(el("code", { text: code }));
    else if (strong !== undefined) nodes.push(el("strong", { text: strong }));
    else nodes.push(el("em", { text: em ?? em2 }));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(text.slice(last));
  return nodes;
}

/**
 * What an affordance's description adds to its title: a doc comment's first
 * paragraph is the title, and the description is the whole comment, so the
 * title is not shown twice.
 */
function beyondTitle(item) {
  const description = (item.description || "").trim();
  const title = (item.title || "").trim();
  if (title && description.startsWith(title)) return description.slice(title.length).trim();
  return description;
}

/** The visible text of an affordance: its title, then the rest of its description. */
function docOf(item) {
  return markdown([item.title, beyondTitle(item)].filter(Boolean).join("\n\n"));
}

const TOKEN_KEY = "labthings-token";

/** Move a token from the address's #token=… fragment into this tab's storage. */
function takeTokenFromAddress() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const token = fragment.get("token");
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, "", location.pathname + location.search);
}

/** The access token of this tab, or null. */
function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** `url` with the token as ?access_token=, for what cannot carry headers. */
function withToken(url) {
  const current = token();
  const absolute = new URL(url, location.href);
  if (current) absolute.searchParams.set("access_token", current);
  return absolute.href;
}

/** One HTTP request with an optional JSON body; never throws for HTTP errors. */
async function api(method, url, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (token()) init.headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  return { ok: response.ok, status: response.status, data };
}

/** The method a WoT operation uses when its form does not name one. */
const DEFAULT_METHODS = { readproperty: "GET", writeproperty: "PUT", invokeaction: "POST", queryaction: "GET", cancelaction: "DELETE" };

/**
 * The form of `affordance` (of the TD `td`) for the WoT operation `op`, as
 * {href, method} with the href made absolute on the TD's base; `pick`
 * chooses among several. The panel follows the TD's forms, as any WoT
 * client does, rather than building URLs from names.
 */
function formFor(td, affordance, op, pick = () => true) {
  const form = ((affordance && affordance.forms) || []).find((f) => [].concat(f.op).includes(op) && pick(f));
  if (!form) throw new Error(`the TD has no ${op} form here`);
  return { href: new URL(form.href, td.base).href, method: form["htv:methodName"] || DEFAULT_METHODS[op] };
}

/** The problems of an error answer: [{field, msg}] (field "" when general). */
function problems(result) {
  const detail = result.data && result.data.detail;
  if (Array.isArray(detail)) {
    return detail.map((p) => ({ field: (p.loc || []).slice(1).join("."), msg: p.msg }));
  }
  const msg = typeof detail === "string" ? detail : (result.data && result.data.title) || `HTTP ${result.status}`;
  return [{ field: "", msg }];
}

/** The non-null branch of an Option's oneOf, and whether null is allowed. */
function unwrap(schema) {
  const branches = schema.oneOf || schema.anyOf;
  if (Array.isArray(branches) && branches.length === 2 && branches.some((b) => b.type === "null")) {
    return { schema: { ...schema, ...branches.find((b) => b.type !== "null") }, nullable: true };
  }
  return { schema, nullable: false };
}

const show = (value) => (value === undefined ? "" : JSON.stringify(value));

/**
 * An input for a value of `schema`: {node, set(value), read()}. read()
 * returns undefined when left empty, and throws an Error naming the problem.
 */
function widget(rawSchema, label) {
  const { schema, nullable } = unwrap(rawSchema || {});
  if (Array.isArray(schema.enum)) {
    const select = el("select", { "aria-label": label }, el("option", { value: "", text: "" }));
    for (const option of schema.enum) select.append(el("option", { value: JSON.stringify(option), text: String(option) }));
    return {
      node: select,
      set: (v) => (select.value = v === undefined || v === null ? "" : JSON.stringify(v)),
      read: () => (select.value === "" ? undefined : JSON.parse(select.value)),
    };
  }
  if (schema.type === "boolean") {
    const box = el("input", { type: "checkbox", "aria-label": label });
    return { node: box, set: (v) => (box.checked = Boolean(v)), read: () => box.checked };
  }
  if (schema.type === "integer" || schema.type === "number") {
    const input = el("input", {
      type: "number",
      "aria-label": label,
      step: schema.type === "integer" ? (schema.multipleOf ?? 1) : "any",
      min: schema.minimum ?? schema.exclusiveMinimum,
      max: schema.maximum ?? schema.exclusiveMaximum,
    });
    return {
      node: input,
      set: (v) => (input.value = v === undefined || v === null ? "" : String(v)),
      read: () => {
        if (input.value.trim() === "") return nullable ? null : undefined;
        const n = Number(input.value);
        if (!Number.isFinite(n)) throw new Error("not a number");
        return n;
      },
    };
  }
  if (schema.type === "string") {
    const input = el("input", { type: "text", "aria-label": label });
    return {
      node: input,
      set: (v) => (input.value = v ?? ""),
      read: () => (input.value === "" && nullable ? null : input.value),
    };
  }
  // Arrays, objects and anything else: JSON text.
  const input = el("input", { type: "text", class: "json", "aria-label": label, placeholder: "JSON" });
  return {
    node: input,
    set: (v) => (input.value = v === undefined ? "" : JSON.stringify(v)),
    read: () => {
      if (input.value.trim() === "") return undefined;
      try {
        return JSON.parse(input.value);
      } catch {
        throw new Error("not valid JSON");
      }
    },
  };
}

/** A blob output ({href, media_type}) as a download link (and a picture). */
function renderOutput(output) {
  if (output && typeof output === "object" && typeof output.href === "string" && output.media_type) {
    const box = el("div", { class: "blob" }, el("a", { href: withToken(output.href), download: "", text: `Download (${output.media_type})` }));
    if (output.media_type.startsWith("image/")) box.append(el("img", { src: withToken(output.href), alt: "output" }));
    return box;
  }
  const compact = JSON.stringify(output);
  return el("pre", { class: "output", text: compact.length <= 80 ? compact : JSON.stringify(output, null, 2) });
}

/** The card of one thing. */
class ThingCard {
  /** `url`: where the thing's TD is, as `/things/` lists it. */
  constructor(name, td, url) {
    this.name = name;
    this.td = td;
    this.values = new Map();
    this.inputs = new Map();
    this.node = el("section", { class: "thing", id: `thing-${name}`, "data-thing": name });
    this.node.append(
      el(
        "h2",
        {},
        td.title || name,
        el("small", { text: ` ${name}` }),
        el("a", { class: "td", href: withToken(url), text: "TD" }),
      ),
    );
    this.node.append(...markdown(beyondTitle(td)));
    this.renderStreams();
    this.renderProperties();
    this.renderActions();
    this.renderEvents();
    this.observe();
  }

  renderStreams() {
    const pages = [];
    for (const link of this.td.links || []) {
      if (link.type === "multipart/x-mixed-replace") {
        this.node.append(el("figure", { class: "stream" }, el("img", { src: withToken(link.href), alt: `${this.name} stream` }), el("figcaption", { text: link.href })));
      } else if (link.rel === "item") {
        // The thing's own endpoints: downloads and pages.
        const name = link.href.split("/").pop();
        pages.push(el("li", {}, el("a", { href: withToken(link.href), target: "_blank", text: name })));
      }
    }
    if (pages.length > 0) this.node.append(el("ul", { class: "endpoints" }, ...pages));
  }

  renderProperties() {
    const entries = Object.entries(this.td.properties || {});
    if (entries.length === 0) return;
    const table = el("table", { class: "properties" });
    for (const [name, property] of entries) {
      const value = el("code", { class: "value", "data-property": name });
      this.values.set(name, value);
      const row = el(
        "tr",
        { "data-property": name },
        el("th", {}, el("span", { class: "name", text: name }), el("div", { class: "docs" }, ...docOf(property))),
        el("td", {}, value, property.unit ? el("span", { class: "unit", text: ` ${property.unit}` }) : null),
      );
      if (!property.readOnly) {
        const input = widget(property, `new ${name}`);
        this.inputs.set(name, input);
        const message = el("span", { class: "message" });
        const write = async (event) => {
          event.preventDefault();
          message.textContent = "";
          let value;
          try {
            value = input.read();
          } catch (error) {
            message.textContent = error.message;
            return;
          }
          const form = formFor(this.td, this.td.properties[name], "writeproperty");
          const result = await api(form.method, form.href, value === undefined ? null : value);
          if (result.ok) {
            message.textContent = "✓";
            this.refresh(name);
          } else {
            message.textContent = problems(result).map((p) => p.msg).join("; ");
          }
        };
        row.append(
          el("td", {}, el("form", { class: "write", onsubmit: write, novalidate: true }, input.node, el("button", { type: "submit", text: "Set" }), message)),
        );
      } else {
        row.append(el("td"));
      }
      table.append(row);
      this.refresh(name);
    }
    this.node.append(el("h3", { text: "Properties" }), table);
  }

  /**
   * Read property `name` and show it. With `since` (a count of live
   * updates), a live update that arrives while the read is under way wins:
   * it is newer than what the read returns.
   */
  async refresh(name, since) {
    const form = formFor(this.td, this.td.properties[name], "readproperty");
    const result = await api(form.method, form.href);
    const cell = this.values.get(name);
    if (!cell) return;
    if (since !== undefined && (this.updated.get(name) ?? 0) > since) return;
    cell.textContent = result.ok ? show(result.data) : `⚠ ${problems(result)[0].msg}`;
    cell.classList.toggle("failed", !result.ok);
    // Start a writable property's input at its current value.
    const input = this.inputs.get(name);
    if (result.ok && input && !input.touched) {
      input.set(result.data);
      input.touched = true;
    }
  }

  refreshUnobserved() {
    for (const [name, property] of Object.entries(this.td.properties || {})) {
      if (!property.observable) this.refresh(name);
    }
  }

  /** Live values of observable properties over the thing's WebSocket. */
  observe() {
    const observable = Object.entries(this.td.properties || {}).filter(([, p]) => p.observable);
    if (observable.length === 0) return;
    // LabThings-FastAPI's observation WebSocket: not a TD form (WoT has no
    // operation for it), so its path is the contract's `{thing}/ws`, next to
    // this page (which is served at the server's root or its api_prefix).
    const address = new URL(`${this.name}/ws`, location.href);
    address.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(withToken(address.href));
    const reconnecting = this.updated !== undefined;
    // Live updates so far, in all and per property (see `refresh`).
    this.updated ??= new Map();
    this.updates ??= 0;
    socket.onopen = () => {
      const data = Object.fromEntries(observable.map(([name]) => [name, true]));
      socket.send(JSON.stringify({ messageType: "addPropertyObservation", data }));
      // The WebSocket does not resume: after a break, what changed
      // meanwhile is read afresh (a live update that comes first wins).
      if (reconnecting) for (const [name] of observable) this.refresh(name, this.updates);
    };
    socket.onmessage = (message) => {
      const update = JSON.parse(message.data);
      if (update.messageType !== "propertyStatus") return;
      this.updates += 1;
      for (const [name, value] of Object.entries(update.data || {})) {
        this.updated.set(name, this.updates);
        const cell = this.values.get(name);
        if (cell) {
          cell.textContent = show(value);
          cell.classList.remove("failed");
        }
      }
    };
    socket.onclose = () => setTimeout(() => this.observe(), 1000);
  }

  renderActions() {
    const entries = Object.entries(this.td.actions || {});
    if (entries.length === 0) return;
    this.node.append(el("h3", { text: "Actions" }));
    for (const [name, action] of entries) this.node.append(new ActionPanel(this, name, action).node);
  }

  renderEvents() {
    for (const [name, event] of Object.entries(this.td.events || {})) {
      const form = (event.forms || []).find((f) => f.subprotocol === "sse");
      if (!form) continue;
      const list = el("ol", { class: "events", "data-event": name });
      this.node.append(el("h3", { text: `Event: ${name}` }), ...docOf(event), list);
      // The browser reconnects by itself after a break, and the server
      // sends what was missed meanwhile (the messages carry ids), or a
      // `gap` message when it no longer keeps that.
      const source = new EventSource(withToken(new URL(form.href, this.td.base)));
      const add = (text, attributes = {}) => {
        list.prepend(el("li", { text, ...attributes }));
        while (list.children.length > 5) list.lastChild.remove();
      };
      source.onmessage = (message) => add(message.data);
      source.addEventListener("gap", () => add("(some events were missed while disconnected)", { class: "gap" }));
    }
  }
}

/** One action: its input form, run and cancel buttons, and the last invocation. */
class ActionPanel {
  constructor(card, name, action) {
    this.card = card;
    this.name = name;
    this.fields = new Map();
    const input = action.input || {};
    const required = new Set(input.required || []);
    // The server checks every value against the schema and says what is
    // wrong in words the user can act on; the browser's own checks would
    // stop the request with a tooltip instead.
    const form = el("form", { class: "invoke", onsubmit: (e) => this.run(e), novalidate: true });
    for (const [field, schema] of Object.entries(input.properties || {})) {
      const w = widget(schema, field);
      if (schema.default !== undefined) w.set(schema.default);
      const message = el("span", { class: "message" });
      this.fields.set(field, { widget: w, message, required: required.has(field) });
      form.append(
        el(
          "label",
          {},
          el("span", { text: required.has(field) ? `${field} *` : field }, schema.unit ? el("span", { class: "unit", text: ` (${schema.unit})` }) : null),
          w.node,
          schema.description ? el("small", { class: "doc" }, ...inline(schema.description)) : null,
          message,
        ),
      );
    }
    this.runButton = el("button", { type: "submit", class: "run", text: "Run" });
    this.cancelButton = el("button", { type: "button", class: "cancel", text: "Cancel", disabled: true, onclick: () => this.cancel() });
    form.append(el("div", { class: "buttons" }, this.runButton, this.cancelButton));
    this.status = el("span", { class: "status" });
    this.result = el("div", { class: "result" });
    this.node = el(
      "div",
      { class: "action", id: `action-${card.name}-${name}`, "data-action": name },
      el("h4", {}, name, " ", this.status),
      el("div", { class: "docs" }, ...docOf(action)),
      form,
      this.result,
    );
  }

  /** Read the form: the input object, or null after showing what is wrong. */
  input() {
    const body = {};
    let ok = true;
    for (const [field, { widget: w, message, required }] of this.fields) {
      message.textContent = "";
      try {
        const value = w.read();
        if (value === undefined) {
          if (required) throw new Error("required");
        } else {
          body[field] = value;
        }
      } catch (error) {
        message.textContent = error.message;
        ok = false;
      }
    }
    return ok ? body : null;
  }

  async run(event) {
    event.preventDefault();
    const body = this.input();
    if (body === null) return;
    this.result.replaceChildren();
    this.setStatus("starting");
    // The invokeaction form that answers at once with the invocation (its
    // additional response), so the panel can show progress and cancel.
    const answersInvocation = (f) => (f.additionalResponses || []).some((r) => r.schema === "invocation");
    const form = formFor(this.card.td, this.card.td.actions[this.name], "invokeaction", answersInvocation);
    const result = await api(form.method, form.href, body);
    if (!result.ok) {
      this.setStatus("refused");
      for (const { field, msg } of problems(result)) {
        const target = this.fields.get(field);
        if (target) target.message.textContent = msg;
        else this.result.append(el("p", { class: "error", text: msg }));
      }
      return;
    }
    this.track(result.data);
  }

  setStatus(status) {
    this.status.textContent = status;
    this.status.className = `status ${status}`;
    this.node.dataset.status = status;
  }

  /** Follow an invocation until it finishes, showing its status, progress and log. */
  async track(invocation) {
    this.invocation = invocation;
    this.cancelButton.disabled = false;
    const log = el("pre", { class: "log" });
    const progress = new ProgressBar();
    this.result.replaceChildren(progress.node, log);
    for (;;) {
      this.setStatus(invocation.status);
      progress.show(invocation);
      log.textContent = (invocation.log || [])
        .map((r) => `${(r.created || "").slice(11, 23)} ${r.levelname} ${r.message}`)
        .join("\n");
      if (FINISHED.includes(invocation.status)) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const result = await api("GET", invocation.href);
      if (!result.ok) {
        this.result.append(el("p", { class: "error", text: problems(result)[0].msg }));
        break;
      }
      invocation = result.data;
    }
    this.cancelButton.disabled = true;
    if (invocation.status === "completed") this.result.append(renderOutput(invocation.output));
    if (invocation.error) this.result.append(el("p", { class: "error", text: `${invocation.error.title}: ${invocation.error.detail}` }));
    this.card.refreshUnobserved();
  }

  async cancel() {
    if (!this.invocation) return;
    this.cancelButton.disabled = true;
    const result = await api("DELETE", this.invocation.href);
    if (!result.ok) this.result.append(el("p", { class: "error", text: problems(result)[0].msg }));
  }
}

/** Seconds as the panel says them: "4.2 s", "3 min 5 s". */
function duration(seconds) {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/**
 * How far an invocation is: a bar, the percentage, the time left (the
 * server's estimate is marked "about"), the action's message, and how many
 * intermediate results it has reported. Hidden until the action reports.
 */
class ProgressBar {
  constructor() {
    this.bar = el("progress", { max: 1, value: 0 });
    this.label = el("span", { class: "label" });
    this.node = el("div", { class: "progress", hidden: true }, this.bar, this.label);
  }

  show(invocation) {
    const p = invocation.progress;
    if (!p) return;
    this.node.hidden = false;
    this.bar.value = p.fraction;
    const parts = [`${Math.round(p.fraction * 100)} %`];
    if (typeof p.remainingSeconds === "number" && !FINISHED.includes(invocation.status)) {
      parts.push(`${p.remainingEstimated ? "about " : ""}${duration(p.remainingSeconds)} left`);
    }
    if (p.message) parts.push(p.message);
    if (Array.isArray(invocation.intermediate)) parts.push(`${invocation.intermediate.length} intermediate results`);
    this.label.textContent = parts.join(" · ");
  }
}

/** How often the panel asks for calls awaiting an operator's approval. */
const APPROVALS_MS = 1000;

/**
 * Calls awaiting an operator's approval (an agent's, or a user's the
 * server's policy names), each with Approve and Reject; shown above the
 * things while there are any. Only an operator other than the caller may
 * decide: the server says so if the signed-in user asked for the call.
 */
class Approvals {
  constructor() {
    this.list = el("ul", {});
    this.node = el("section", { class: "approvals", hidden: true, "aria-live": "polite" },
      el("h2", { text: "Awaiting your approval" }), this.list);
    this.shown = new Map();
  }

  async poll() {
    for (;;) {
      const result = await api("GET", "action_invocations");
      if (result.ok && Array.isArray(result.data)) this.show(result.data.filter((i) => i.status === "pending" && i.approval && i.approval.state === "awaiting"));
      await new Promise((resolve) => setTimeout(resolve, APPROVALS_MS));
    }
  }

  show(waiting) {
    const ids = new Set(waiting.map((i) => i.id));
    for (const [id, item] of this.shown) {
      if (!ids.has(id)) {
        item.remove();
        this.shown.delete(id);
      }
    }
    for (const invocation of waiting) {
      if (this.shown.has(invocation.id)) continue;
      const message = el("span", { class: "message" });
      const decide = async (link, button) => {
        button.disabled = true;
        const result = await api("POST", link);
        if (!result.ok) {
          message.textContent = problems(result)[0].msg;
          button.disabled = false;
        }
      };
      const approve = el("button", { type: "button", class: "approve", text: "Approve", onclick: () => decide(invocation.approval.approve, approve) });
      const reject = el("button", { type: "button", class: "reject", text: "Reject", onclick: () => decide(invocation.approval.reject, reject) });
      const item = el("li", { "data-invocation": invocation.id },
        el("code", { text: invocation.action }), " ",
        el("span", { text: `asked by ${invocation.approval.caller} (${invocation.approval.binding}), until ${invocation.approval.deadline.slice(11, 19)} UTC` }),
        el("pre", { class: "input", text: JSON.stringify(invocation.approval.input ?? {}, null, 1) }),
        approve, " ", reject, " ", message);
      this.shown.set(invocation.id, item);
      this.list.append(item);
    }
    this.node.hidden = this.shown.size === 0;
  }
}

/** Problems the server found with settings files at start: shown first. */
async function showSettingsWarnings(root) {
  const result = await api("GET", "settings_warnings");
  if (!result.ok || !result.data) return;
  const lines = Object.entries(result.data).flatMap(([thing, warnings]) => warnings.map((w) => `${thing}: ${w}`));
  if (lines.length === 0) return;
  root.before(
    el("section", { class: "warning", role: "alert" },
      el("h2", { text: "Settings were not restored as saved" }),
      el("ul", {}, lines.map((line) => el("li", { text: line })))),
  );
}

/** The sign-in box, shown when the server refuses the panel's requests. */
function signIn(root, result) {
  const rejected = token() !== null;
  const input = el("input", { type: "password", name: "token", autocomplete: "off", "aria-label": "access token", placeholder: "access token" });
  const form = el(
    "form",
    {
      onsubmit: (event) => {
        event.preventDefault();
        if (!input.value.trim()) return;
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        location.reload();
      },
    },
    input,
    el("button", { type: "submit", text: "Sign in" }),
  );
  root.replaceChildren(
    el(
      "section",
      { class: "signin" },
      el("h2", { text: "Sign in" }),
      el("p", {
        class: rejected ? "error" : "muted",
        text: rejected
          ? `The token was not accepted: ${problems(result)[0].msg}`
          : "This server needs credentials. Paste an access token, or reload the page and give your user name and password when the browser asks.",
      }),
      form,
    ),
  );
  if (rejected) sessionStorage.removeItem(TOKEN_KEY);
}

/** With a token: links that need it, and a way to sign out. */
function signedIn() {
  if (!token()) return;
  for (const link of document.querySelectorAll("nav a[data-needs-token]")) link.href = withToken(link.getAttribute("href"));
  const out = el("button", {
    type: "button",
    class: "signout",
    text: "Sign out",
    onclick: () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    },
  });
  document.querySelector("nav").append(out);
}

// A #token=… pasted into this tab's address bar does not load the page anew.
window.addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) {
    takeTokenFromAddress();
    location.reload();
  }
});

async function main() {
  takeTokenFromAddress();
  const root = document.getElementById("things");
  await showSettingsWarnings(root);
  const result = await api("GET", "thing_descriptions/");
  if (result.status === 401) {
    signIn(root, result);
    document.body.dataset.ready = "signin";
    return;
  }
  signedIn();
  if (!result.ok) {
    root.replaceChildren(el("p", { class: "error", text: `Could not load the things: HTTP ${result.status}` }));
    return;
  }
  const urls = await api("GET", "things/");
  const cards = Object.entries(result.data).map(([name, td]) => new ThingCard(name, td, (urls.ok && urls.data[name]) || td.base).node);
  root.replaceChildren(...(cards.length ? cards : [el("p", { text: "This server has no things." })]));
  const approvals = new Approvals();
  root.before(approvals.node);
  approvals.poll();
  document.body.dataset.ready = "true";
}

main();
