// The buyer console: who you are, what the catalogue holds (counts only), an order with
// its quote, the payment, the saga that provisions the data service as it runs, and the
// delivered files. Everything shown is set as text (never HTML made of data); every
// refusal is shown with its reason and detail.
"use strict";
import {
  $, Refusal, base, bytes, call, dl, el, forget, keep, loggedIn, money, poll, post, query,
  refreshToken, row, sleep, stream,
} from "./live-api.js";

const SETTLED = new Set(["applied", "rejected", "dead_lettered"]);
const SAGA_ENDED = new Set(["COMPLETED", "COMPENSATED", "STUCK"]);
const SERVICE_ENDED = new Set(["DELIVERED", "FINISHED", "CANCELLED", "FAILED"]);
const state = {
  me: null, known: {}, subscriptions: [], subscriptionId: "", quoted: false,
  serviceId: "", filesCursor: null, following: 0, sagaRunning: false, shown: new Set(),
};

// -- telling the buyer -------------------------------------------------------------------
function note(text) {
  const item = el("li", `${new Date().toISOString().slice(11, 19)} ${text}`);
  $("log").appendChild(item);
}

function say(text) {
  $("status").textContent = text;
  note(text);
}

function refuse(error, what) {
  const text = error instanceof Refusal ? error.text : String(error.message || error);
  $("error").textContent = `${what}: ${text}`;
  note(`refused: ${what}: ${text}`);
}

function clearError() {
  $("error").textContent = "";
}

/** Run `action` with `button` disabled, showing a refusal as `what`'s. */
function act(button, what, action) {
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    clearError();
    button.disabled = true;
    try {
      await action();
    } catch (error) {
      refuse(error, what);
    } finally {
      button.disabled = false;
      refreshButtons();
    }
  });
}

function refreshButtons() {
  $("place-order").disabled = !state.quoted;
  $("receive-refresh").disabled = !state.subscriptionId;
}

// -- 1 · session ---------------------------------------------------------------------------
async function loadMe() {
  const me = await call("/v1/me");
  state.me = me;
  $("whoami").textContent = `${me.username} (${me.role})`;
  dl($("me"), [["client code", me.scope], ["email", me.email], ["account since", me.created_at]]);
  $("login-form").hidden = true;
  $("account").hidden = false;
  if (me.role !== "client") {
    say(`This console is for clients; ${me.username} is a ${me.role}.`);
    return;
  }
  showClient();
  await loadSubscriptions();
  $("criteria").disabled = false;
  $("order-form").disabled = false;
  if (!$("dataset_code").value) $("dataset_code").value = `ds-${Date.now().toString(36)}`;
  say(`Logged in as ${me.username}, client ${me.scope}.`);
}

async function loadSubscriptions() {
  const page = await call(`/v1/subscriptions${query({ limit: 50 })}`);
  state.subscriptions = page.items;
  const select = $("subscription");
  const chosen = select.value || state.subscriptionId;
  select.replaceChildren(el("option", "a new subscription", { value: "" }));
  for (const s of page.items) {
    if (s.status === "CANCELLED") continue;
    const label = `${s.plan.code} · ${s.status} · since ${s.created_at.slice(0, 10)} · ${s.subscription_id.slice(0, 8)}`;
    select.appendChild(el("option", label, { value: s.subscription_id }));
  }
  if (chosen && page.items.some((s) => s.subscription_id === chosen)) select.value = chosen;
  // What a subscription of yours already recorded (newest first): never asked again.
  const newest = page.items[0];
  state.known = newest ? { first_names: newest.client.first_names, last_names: newest.client.last_names } : {};
  showClient();
}

function showClient() {
  const me = state.me;
  dl($("client-known"), [
    ["code", me.scope], ["username", me.username], ["email", me.email],
    ["national id", me.national_id ? "on your account" : ""],
    ["first names", state.known.first_names], ["last names", state.known.last_names],
  ]);
  const ask = { client_first_names: !state.known.first_names, client_last_names: !state.known.last_names, client_rut: true };
  const newSubscription = !$("subscription").value;
  let missing = false;
  for (const [id, needed] of Object.entries(ask)) {
    const shown = newSubscription && needed;
    $(id).hidden = !shown;
    document.querySelector(`label[for="${id}"]`).hidden = !shown;
    $(id).required = shown;
    missing = missing || shown;
  }
  $("client-missing-note").hidden = !missing;
}

function resetSession() {
  forget();
  Object.assign(state, { me: null, known: {}, subscriptions: [], subscriptionId: "", quoted: false, serviceId: "" });
  state.following += 1; // stops whatever was being followed
  $("login-form").hidden = false;
  $("account").hidden = true;
  for (const id of ["criteria", "order-form", "pay-form"]) $(id).disabled = true;
  for (const id of ["counts-body", "quote-body", "order-state", "saga-steps", "saga-log", "notifications", "where", "checksums", "files-body", "invoices", "me", "client-known"]) {
    $(id).replaceChildren();
  }
  for (const id of ["counts", "quote", "files"]) $(id).hidden = true;
  $("password").value = "";
  refreshButtons();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError();
  try {
    keep(await post("/v1/auth/login", { username: $("username").value, password: $("password").value }));
    $("password").value = "";
    await loadMe();
  } catch (error) {
    refuse(error, "log in");
  }
});

act($("logout"), "log out", async () => {
  const token = refreshToken();
  try {
    if (token) await post("/v1/auth/logout", { refresh_token: token });
  } finally {
    resetSession();
    say("Logged out.");
  }
});

// -- 2 · browse ----------------------------------------------------------------------------
function text(id) {
  return $(id).value.trim();
}

function day(id) {
  return $(id).value ? `${$(id).value}T00:00:00Z` : undefined;
}

function number(id) {
  return $(id).value === "" ? undefined : Number($(id).value);
}

/** The criteria as the catalogue reads them (empty fields left out: they match all). */
function criteria() {
  const found = {
    modality: text("modality") || undefined,
    anatomical_region: text("anatomical_region") || undefined,
    pathology: text("pathology") || undefined,
    sources: text("sources").split(",").map((s) => s.trim()).filter(Boolean),
    ingested_from: day("ingested_from"),
    ingested_to: day("ingested_to"),
  };
  if (!found.sources.length) delete found.sources;
  return found;
}

function cell(counts, name) {
  if (counts.suppressed) return el("td", `< ${counts.below ?? "k"}`, { class: "number suppressed", title: "too few patients to show" });
  return el("td", counts[name] ?? "-", { class: "number" });
}

act($("browse-counts"), "counts", async () => {
  const chosen = criteria();
  const params = { ...chosen, sources: (chosen.sources || []).join(","), group_by: $("group_by").value };
  const counts = await call(`/v1/catalogue/counts${query(params)}`);
  const body = $("counts-body");
  body.replaceChildren();
  const line = (label, c) => row([el("th", label, { scope: "row" }), cell(c, "images"), cell(c, "studies"), cell(c, "patients")]);
  for (const group of counts.groups || []) {
    const label = group.other ? "other (merged small groups)" : group.value ?? "(none recorded)";
    body.appendChild(line(label, group));
  }
  body.appendChild(line("total", counts.total));
  $("counts-caption").textContent =
    `Counts rounded down to a multiple of ${counts.rounded_to}; a cell of fewer than ${counts.min_cell} patients is suppressed (“< ${counts.min_cell}”).`;
  $("counts").hidden = false;
  const total = counts.total;
  say(total.suppressed ? `Fewer than ${total.below ?? counts.min_cell} patients match.` : `About ${total.images} images of ${total.patients} patients match.`);
});

// -- 3 · order -----------------------------------------------------------------------------
function datasetCriteria() {
  const found = { ...criteria() };
  for (const name of ["max_images", "max_per_patient"]) {
    const value = number(name);
    if (value !== undefined) found[name] = value;
  }
  found.split = { train: number("split_train") ?? 0, validation: number("split_validation") ?? 0, test: number("split_test") ?? 0 };
  return found;
}

function cloud() {
  const target = { code: text("cloud_code") || "default", type: $("cloud_type").value };
  if (target.type === "bucket") {
    if (text("cloud_bucket")) target.bucket = text("cloud_bucket");
    if (text("cloud_prefix")) target.prefix = text("cloud_prefix");
  }
  if (target.type === "managed_folder" && text("cloud_principal")) target.principal = text("cloud_principal");
  return target;
}

function showTarget() {
  const type = $("cloud_type").value;
  for (const node of document.querySelectorAll(".for-bucket")) node.hidden = type !== "bucket";
  for (const node of document.querySelectorAll(".for-folder")) node.hidden = type !== "managed_folder";
}

function invalidateQuote() {
  if (!state.quoted) return;
  state.quoted = false;
  $("quote-caption").textContent = "The order changed: get a new quote.";
  refreshButtons();
}

function priceOf(quote) {
  const price = quote.price;
  if (price && typeof price === "object") {
    const period = price.billing_period === "monthly" ? " / month" : price.billing_period === "yearly" ? " / year" : "";
    return money(price.amount_cents ?? price.price_cents ?? price.cents, price.currency) + period;
  }
  if (typeof price === "number") return money(price, quote.currency);
  if (typeof quote.price_cents === "number") return money(quote.price_cents, quote.currency);
  return "";
}

act($("get-quote"), "quote", async () => {
  const plan = $("plan").value;
  const quote = await post("/v1/quotes", { plan, dataset_code: text("dataset_code") || undefined, criteria: datasetCriteria() });
  const body = $("quote-body");
  body.replaceChildren();
  const line = (label, value) => body.appendChild(row([el("th", label, { scope: "row" }), el("td", value, { class: "number" })]));
  line("plan", quote.plan ?? plan);
  const price = priceOf(quote);
  if (price) line("price", price);
  line("images", quote.images);
  line("studies", quote.studies);
  line("patients", quote.patients);
  line("size", quote.bytes === 0 ? "under 1 MB" : bytes(quote.bytes));
  if (quote.max_images) line("at most images", quote.max_images);
  for (const [split, counts] of Object.entries(quote.splits || {})) {
    const shown = counts && typeof counts === "object"
      ? counts.suppressed ? `< ${counts.below ?? quote.min_cell} patients` : `${counts.images} images, ${counts.patients} patients`
      : String(counts);
    line(`split ${split}`, shown);
  }
  $("quote-caption").textContent = quote.rounded_to
    ? `Counts rounded down to a multiple of ${quote.rounded_to} (at least ${quote.min_cell} patients).`
    : "";
  $("quote").hidden = false;
  state.quoted = true;
  say(`Quote: ${quote.images} images of ${quote.patients} patients${price ? ` for ${price}` : ""}. Order when ready.`);
});

function orderState(pairs) {
  dl($("order-state"), pairs);
}

/** The command's status once it has settled (polled: short commands). */
async function settled(accepted, what) {
  $("command-id").textContent = accepted.command_id;
  for (let i = 0; i < 240; i += 1) {
    const status = await call(accepted.links.command);
    $("command-status").textContent = status.status;
    if (SETTLED.has(status.status)) {
      if (status.status !== "applied") {
        throw new Error(`${what} ${status.status}${status.reason ? `: ${status.reason}` : ""}`);
      }
      return status;
    }
    await sleep(500);
  }
  throw new Error(`${what} still pending`);
}

function clientBody() {
  const me = state.me;
  return {
    code: me.scope, username: me.username, email: me.email, national_id: me.national_id,
    first_names: state.known.first_names || text("client_first_names"),
    last_names: state.known.last_names || text("client_last_names"),
    rut: text("client_rut"),
  };
}

/** The data request, once data services knows the subscription (a new one takes a moment
 * to reach it: 404/409 until then, each shown in the log). */
async function requestData(subscriptionId) {
  const body = { dataset: { code: text("dataset_code"), name: text("dataset_name"), criteria: datasetCriteria() }, cloud: cloud() };
  if (text("speciality")) body.speciality = text("speciality");
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await post(`/v1/subscriptions/${encodeURIComponent(subscriptionId)}/data-request`, body);
    } catch (error) {
      const waiting = error instanceof Refusal && (error.status === 404 || error.status === 409);
      if (!waiting || attempt >= 30) throw error;
      note(`data request not taken yet (${error.text}); again in 1 s`);
      await sleep(1000);
    }
  }
}

act($("place-order"), "order", async () => {
  let subscriptionId = $("subscription").value;
  if (!subscriptionId) {
    say("Subscribing…");
    const accepted = await post("/v1/subscriptions", { client: clientBody(), plan: $("plan").value });
    subscriptionId = accepted.subscription_id;
    orderState([["subscription", subscriptionId], ["subscribe", "accepted"]]);
    await settled(accepted, "the subscription");
  }
  state.subscriptionId = subscriptionId;
  orderState([["subscription", subscriptionId], ["subscribe", "applied"], ["data request", "sending"]]);
  say("Asking for the data…");
  const requested = await requestData(subscriptionId);
  await settled(requested, "the data request");
  orderState([["subscription", subscriptionId], ["subscribe", "applied"], ["data request", "applied"]]);
  $("pay-form").disabled = false;
  await loadSubscriptions();
  say("Ordered. Pay to start the delivery.");
});

// -- 4 · pay, 5 · follow -------------------------------------------------------------------
function addOnce(listId, key, label, kind = "") {
  if (state.shown.has(`${listId}:${key}`)) return;
  state.shown.add(`${listId}:${key}`);
  $(listId).appendChild(el("li", label, { class: `appear ${kind}`.trim() }));
}

function showInvoices(subscription) {
  const list = $("invoices");
  list.replaceChildren();
  for (const invoice of subscription.invoices || []) {
    const reason = invoice.reason ? ` (${invoice.reason})` : "";
    list.appendChild(el("li", `${invoice.status} ${money(invoice.amount_cents, invoice.currency)}${reason} at ${invoice.at}`, { class: invoice.status }));
  }
}

function render(view, transport) {
  note(`${transport}: timeline changed`);
  $("transport").textContent = `(${transport})`;
  const command = view.command;
  $("command-status").textContent = command.status;
  if (view.subscription) {
    $("subscription-status").textContent = view.subscription.status;
    showInvoices(view.subscription);
  }
  for (const step of (view.saga && view.saga.steps) || []) {
    const reason = step.reason ? ` (${step.reason})` : "";
    addOnce("saga-log", `${step.saga_id}:${step.seq}`, `${step.at ? step.at.slice(11, 19) : ""} ${step.name}${reason}`, step.status);
  }
  for (const item of (view.notifications && view.notifications.items) || []) {
    addOnce("notifications", item.notification_id || JSON.stringify(item), item.summary || item.template || "notification");
  }
  return SETTLED.has(command.status);
}

/** The command's timeline, streamed then polled, until it has settled and the saga it
 * may have moved (a payment) has ended. */
async function watchCommand(links, run) {
  try {
    await stream(links.stream, render);
  } catch (error) {
    note(`stream unavailable (${error.message}), polling`);
  }
  let settledPolls = 0;
  await poll(links.timeline, render, () => {
    if (run !== state.following) return true;
    if (SETTLED.has($("command-status").textContent) && !state.sagaRunning) settledPolls += 1;
    return settledPolls > 2;
  });
  $("transport").textContent = "(settled)";
}

function showSaga(saga) {
  $("saga-status").textContent = saga.status;
  const list = $("saga-steps");
  list.replaceChildren();
  for (const step of saga.steps || []) {
    const reason = step.reason ? ` (${step.reason})` : "";
    list.appendChild(el("li", `${step.name}: ${step.status}${reason}`, { class: step.status }));
  }
}

/** The subscription's newest saga, shown (null before it starts). */
async function sagaNow(subscriptionId) {
  const page = await call(`/v1/sagas${query({ subscription_id: subscriptionId, limit: 1 })}`);
  const saga = page.items[0] || null;
  if (saga) {
    showSaga(saga);
    if (saga.facts && saga.facts.data_service_id) state.serviceId = saga.facts.data_service_id;
  }
  return saga;
}

async function watchSaga(subscriptionId, run) {
  state.sagaRunning = true;
  try {
    return await followSaga(subscriptionId, run);
  } finally {
    state.sagaRunning = false;
  }
}

async function followSaga(subscriptionId, run) {
  while (run === state.following) {
    const saga = await sagaNow(subscriptionId);
    if (saga && SAGA_ENDED.has(saga.status)) return saga;
    await sleep(1500);
  }
  return null;
}

act($("pay-now"), "payment", async () => {
  const subscriptionId = state.subscriptionId || $("subscription").value;
  if (!subscriptionId) throw new Error("order first");
  state.subscriptionId = subscriptionId;
  const card = $("card").value;
  const accepted = await post(`/v1/subscriptions/${encodeURIComponent(subscriptionId)}/payments`, { card_token: card });
  $("command-id").textContent = accepted.command_id;
  $("command-status").textContent = "accepted";
  say(`Payment with ${card} sent; following it.`);
  state.following += 1;
  const run = state.following;
  watchCommand(accepted.links, run).catch((error) => refuse(error, "timeline"));
  await settled(accepted, "the payment");
  const subscription = await call(`/v1/subscriptions/${encodeURIComponent(subscriptionId)}`);
  showInvoices(subscription);
  $("subscription-status").textContent = subscription.status;
  const last = (subscription.invoices || []).at(-1);
  if (subscription.status !== "ACTIVE") {
    const saga = await sagaNow(subscriptionId);
    if (saga && SAGA_ENDED.has(saga.status)) {
      $("pay-form").disabled = true;
      say(`The purchase ended: ${saga.status}${saga.failure ? ` (${saga.failure})` : ""}.`);
      return;
    }
    say(`Payment ${last ? last.status.toLowerCase() : "not taken"}${last && last.reason ? ` (${last.reason})` : ""}: try another card.`);
    return;
  }
  $("pay-form").disabled = true;
  say("Paid. The data service is being provisioned…");
  await loadSubscriptions();
  const saga = await watchSaga(subscriptionId, run);
  if (!saga) return;
  if (saga.status !== "COMPLETED") {
    $("error").textContent = `The purchase did not complete: ${saga.status}${saga.failure ? ` (${saga.failure})` : ""}${saga.failed_step ? ` at ${saga.failed_step}` : ""}.`;
    return;
  }
  say("Provisioned. Fetching where your data is…");
  await receive(run).catch((error) => refuse(error, "data service"));
});

// -- 6 · receive ---------------------------------------------------------------------------
async function findService() {
  if (state.serviceId) return state.serviceId;
  const page = await call(`/v1/data-services${query({ limit: 50 })}`);
  const mine = page.items.find((s) => s.subscription_id === state.subscriptionId);
  state.serviceId = mine ? mine.data_service_id : "";
  return state.serviceId;
}

function link(url, label) {
  const a = el("a", label, { href: url, rel: "noopener noreferrer", download: "" });
  return a;
}

function apiUrl(path) {
  return path.startsWith("/v1/") ? `${location.origin}${base}${path}` : path;
}

async function receive(run = state.following) {
  const id = await findService();
  if (!id) {
    say("No data service for this subscription yet.");
    return;
  }
  $("service-id").textContent = id;
  let service;
  for (let i = 0; i < 120 && run === state.following; i += 1) {
    service = await call(`/v1/data-services/${encodeURIComponent(id)}`);
    $("service-status").textContent = service.status;
    if (SERVICE_ENDED.has(service.status)) break;
    await sleep(1500);
  }
  const where = service.where || {};
  const delivery = service.delivery || {};
  const manifest = service.manifest || {};
  dl($("where"), [
    ["delivered as", where.target_type], ["where", where.location], ["how to fetch", where.fetch_hint],
    ["available", where.available === undefined ? "" : where.available ? "yes" : "no"],
    ["until", where.access_until], ["DICOMweb base URL", where.dicomweb_url ? apiUrl(where.dicomweb_url) : ""],
    ["images", manifest.images], ["patients", manifest.patients], ["size", manifest.bytes ? bytes(manifest.bytes) : ""],
    ["splits", manifest.splits ? Object.entries(manifest.splits).map(([k, v]) => `${k} ${v}`).join(", ") : ""],
    ["objects delivered", delivery.objects], ["delivered at", delivery.delivered_at],
  ]);
  if (service.status !== "DELIVERED") {
    say(`The data service is ${service.status}${service.end_reason ? ` (${service.end_reason})` : ""}.`);
    return;
  }
  if (where.available === false) {
    say("Delivered, but no longer available.");
    return;
  }
  state.filesCursor = null;
  $("files-body").replaceChildren();
  $("checksums").replaceChildren();
  try {
    await moreFiles();
  } catch (error) {
    // A bucket or a managed folder of yours: read where it is (the where block says how).
    if (error instanceof Refusal && error.reason === "files_not_offered") {
      say(`Delivered: ${where.fetch_hint || error.detail}`);
      return;
    }
    throw error;
  }
  say(where.target_type === "dicomweb"
    ? "Delivered: read it through DICOMweb with your token (manifest and checksums below)."
    : "Delivered: your files are listed below.");
}

async function moreFiles() {
  const id = state.serviceId;
  const path = `/v1/data-services/${encodeURIComponent(id)}/files${query({ limit: 50, cursor: state.filesCursor })}`;
  const page = await call(path);
  const body = $("files-body");
  for (const file of page.items) {
    if (file.name === "SHA256SUMS" || file.name === "manifest.jsonl") {
      const label = file.name === "SHA256SUMS" ? "checksums (SHA256SUMS)" : "manifest (manifest.jsonl)";
      const holder = $("checksums");
      if (holder.childNodes.length) holder.appendChild(document.createTextNode(" · "));
      const anchor = link(file.url, label);
      anchor.id = file.name === "SHA256SUMS" ? "checksums-link" : "manifest-link";
      holder.appendChild(anchor);
      continue;
    }
    const anchor = link(file.url, file.name);
    anchor.className = "file-link";
    body.appendChild(row([
      (() => { const td = el("td"); td.appendChild(anchor); return td; })(),
      el("td", file.size == null ? "-" : bytes(file.size), { class: "number" }),
      el("td", file.sha256 || "-", { class: "hash" }),
      el("td", file.expires_at ? file.expires_at.slice(11, 19) : "-"),
    ]));
  }
  $("files").hidden = !body.childNodes.length;
  state.filesCursor = page.next_cursor;
  $("files-more").hidden = !page.next_cursor;
}

act($("files-more"), "files", moreFiles);
act($("receive-refresh"), "data service", () => receive());

// -- wiring --------------------------------------------------------------------------------
$("cloud_type").addEventListener("change", showTarget);
$("subscription").addEventListener("change", () => {
  state.subscriptionId = $("subscription").value;
  state.serviceId = "";
  const chosen = state.subscriptions.find((s) => s.subscription_id === state.subscriptionId);
  if (chosen) $("plan").value = chosen.plan.code;
  $("plan").disabled = Boolean(chosen);
  $("pay-form").disabled = !chosen || chosen.status !== "PENDING_PAYMENT";
  showClient();
  refreshButtons();
});
// What the quote depends on: a change asks for a new quote before an order.
const QUOTED = new Set(["plan", "dataset_code", "max_images", "max_per_patient", "split_train", "split_validation", "split_test"]);
for (const id of ["criteria", "order-form"]) {
  $(id).addEventListener("input", (event) => {
    const inCriteria = event.target.closest("#criteria") && event.target.id !== "group_by";
    if (inCriteria || QUOTED.has(event.target.id)) invalidateQuote();
  });
}
showTarget();
refreshButtons();
if (loggedIn()) {
  loadMe().catch((error) => {
    resetSession();
    refuse(error, "session");
  });
}
