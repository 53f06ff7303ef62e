// The live page: log in, subscribe, then watch the command's timeline as it changes.
// Server-sent events first (read with fetch, so the token goes in a header, never in a
// URL); when the stream ends or fails, polling with ETags (304 when nothing changed).
"use strict";
(() => {
  const base = location.pathname.replace(/\/v1\/live$/, "");
  const $ = (id) => document.getElementById(id);
  const SETTLED = new Set(["applied", "rejected", "dead_lettered"]);
  let token = "";
  let shown = new Set();

  function note(text) {
    const item = document.createElement("li");
    item.textContent = `${new Date().toISOString().slice(11, 23)} ${text}`;
    $("log").appendChild(item);
  }

  function fail(text) {
    $("error").textContent = text;
    note(`error: ${text}`);
  }

  async function call(path, options = {}) {
    const headers = { "Content-Type": "application/json", ...(options.headers || {}) };
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(base + path, { ...options, headers });
  }

  function addOnce(listId, key, text) {
    if (shown.has(`${listId}:${key}`)) return;
    shown.add(`${listId}:${key}`);
    const item = document.createElement("li");
    item.className = "appear";
    item.textContent = text;
    $(listId).appendChild(item);
  }

  function render(view) {
    const command = view.command;
    $("command-status").textContent = command.status;
    if (command.reason) addOnce("events", `reason:${command.reason}`, `reason: ${command.reason}`);
    for (const type of command.event_types || []) addOnce("events", type, type);
    $("subscription-status").textContent = view.subscription ? view.subscription.status : "-";
    for (const step of view.saga.steps) addOnce("saga-steps", JSON.stringify(step), step.name || JSON.stringify(step));
    $("saga-note").textContent = view.saga.steps.length ? "" : "no saga steps yet";
    for (const item of view.notifications.items) addOnce("notifications", item.notification_id || JSON.stringify(item), item.summary || JSON.stringify(item));
    $("notifications-note").textContent = view.notifications.items.length ? "" : "no notifications yet";
    return SETTLED.has(command.status);
  }

  async function stream(links) {
    $("transport").textContent = "(live stream)";
    const response = await call(links.stream, { headers: { Accept: "text/event-stream" } });
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
        if (event === "timeline") {
          note("stream: timeline changed");
          render(JSON.parse(data));
        } else if (event === "end") {
          return;
        }
      }
    }
  }

  async function poll(links) {
    $("transport").textContent = "(polling)";
    let etag = "";
    let settledPolls = 0;
    while (settledPolls < 5) {
      const response = await call(links.timeline, { headers: etag ? { "If-None-Match": etag } : {} });
      if (response.status === 200) {
        etag = response.headers.get("ETag") || "";
        note("poll: timeline changed");
        if (render(await response.json())) settledPolls += 1;
      } else if (response.status === 304) {
        if (SETTLED.has($("command-status").textContent)) settledPolls += 1;
      } else {
        fail(`timeline answered ${response.status}`);
        return;
      }
      await new Promise((done) => setTimeout(done, 1000));
    }
    $("transport").textContent = "(settled)";
  }

  async function watch(links) {
    try {
      await stream(links);
    } catch (error) {
      note(`stream unavailable (${error.message}), polling`);
    }
    await poll(links);
  }

  $("login").addEventListener("click", async () => {
    $("error").textContent = "";
    const response = await call("/v1/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    const answer = await response.json();
    if (!response.ok) return fail(answer.error.reason);
    token = answer.access_token;
    $("whoami").textContent = `logged in as ${answer.role}`;
    $("subscribe-form").disabled = false;
    note("logged in");
  });

  $("subscribe").addEventListener("click", async () => {
    $("error").textContent = "";
    const client = {};
    for (const name of ["code", "first_names", "last_names", "rut", "national_id", "email"]) {
      client[name] = $(name).value;
    }
    client.username = $("client_username").value;
    const response = await call("/v1/subscriptions", {
      method: "POST",
      body: JSON.stringify({ client, plan: $("plan").value }),
    });
    const answer = await response.json();
    if (response.status !== 202) return fail(answer.error.reason);
    shown = new Set();
    for (const id of ["events", "saga-steps", "notifications"]) $(id).replaceChildren();
    $("command-id").textContent = answer.command_id;
    $("command-status").textContent = "accepted";
    note(`command ${answer.command_id} accepted`);
    watch(answer.links);
  });
})();
