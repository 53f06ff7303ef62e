// The buyer console's talk with the api: the session (tokens in sessionStorage, never
// localStorage), calls that refresh an expired access token once, refusals read as
// {error: {reason, detail, field}}, and a command's timeline as server-sent events read
// with fetch (the token goes in a header, never in a URL), polled with ETags otherwise.
"use strict";

export const base = location.pathname.replace(/\/v1\/live\/?$/, "");
const KEY = "saludtech.console.session";

let session = JSON.parse(sessionStorage.getItem(KEY) || "null");

export function loggedIn() {
  return Boolean(session && session.access_token);
}

export function keep(tokens) {
  session = { access_token: tokens.access_token, refresh_token: tokens.refresh_token };
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function forget() {
  session = null;
  sessionStorage.removeItem(KEY);
}

export function refreshToken() {
  return session ? session.refresh_token : "";
}

/** A refusal of the api, as it answered it. */
export class Refusal extends Error {
  constructor(status, error) {
    const reason = (error && error.reason) || `http_${status}`;
    super(reason);
    this.status = status;
    this.reason = reason;
    this.detail = (error && error.detail) || "";
    this.field = (error && error.field) || "";
  }

  get text() {
    const field = this.field ? ` (${this.field})` : "";
    return `${this.status} ${this.reason}${this.detail ? `: ${this.detail}` : ""}${field}`;
  }
}

async function refusalOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new Refusal(response.status, body && body.error);
}

// One refresh at a time: calls refused together wait for the same new tokens (a refresh
// token is spent once).
let refreshing = null;

function refresh() {
  if (!refreshing) refreshing = spendRefreshToken().finally(() => { refreshing = null; });
  return refreshing;
}

async function spendRefreshToken() {
  if (!session || !session.refresh_token) return false;
  const response = await fetch(`${base}/v1/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh_token }),
  });
  if (!response.ok) {
    forget();
    return false;
  }
  keep(await response.json());
  return true;
}

/** The raw response of `path` (a path under the api, /v1/...), with the session's token. */
export async function raw(path, options = {}, retried = false) {
  const headers = { ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (session) headers.Authorization = `Bearer ${session.access_token}`;
  const response = await fetch(base + path, { ...options, headers });
  if (response.status === 401 && session && !retried && (await refresh())) {
    return raw(path, options, true);
  }
  return response;
}

/** The JSON answer of `path`, or a Refusal thrown. */
export async function call(path, options = {}) {
  const response = await raw(path, options);
  if (!response.ok) throw await refusalOf(response);
  if (response.status === 204) return null;
  return response.json();
}

export function post(path, body) {
  return call(path, { method: "POST", body: JSON.stringify(body) });
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** Read `links.stream` (server-sent events), calling onTimeline(view) on each change;
 * resolves when the stream ends, throws when it cannot be read. */
export async function stream(path, onTimeline) {
  const response = await raw(path, { headers: { Accept: "text/event-stream" } });
  if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = block.split("\n");
      const event = (lines.find((l) => l.startsWith("event: ")) || "").slice(7);
      const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (event === "timeline") onTimeline(JSON.parse(data), "stream");
      else if (event === "end") return;
    }
  }
}

/** Poll `path` (a timeline) with If-None-Match until stop() says so. */
export async function poll(path, onTimeline, stop, every = 1000) {
  let etag = "";
  while (!stop()) {
    const response = await raw(path, { headers: etag ? { "If-None-Match": etag } : {} });
    if (response.status === 200) {
      etag = response.headers.get("ETag") || "";
      onTimeline(await response.json(), "poll");
    } else if (response.status !== 304) {
      throw await refusalOf(response);
    }
    await sleep(every);
  }
}

// -- showing things: text only, never HTML made of data --------------------------------
export const $ = (id) => document.getElementById(id);

export function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

export function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.appendChild(cell instanceof Node ? cell : el("td", cell));
  return tr;
}

export function dl(target, pairs) {
  target.replaceChildren();
  for (const [name, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    target.appendChild(el("dt", name));
    const dd = el("dd");
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = String(value);
    target.appendChild(dd);
  }
}

export function bytes(n) {
  if (n === null || n === undefined) return "-";
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function money(cents, currency) {
  if (typeof cents !== "number") return "-";
  return `${(cents / 100).toFixed(2)} ${currency || ""}`.trim();
}
