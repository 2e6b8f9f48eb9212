// The dev page's data and actions: which channel, which users, what each one
// sees, and the live event stream. Rendering lives in render.js.
//
// Everything goes through the sandbox's control API, exactly as a test would.
// The first state comes embedded in the page (#initial-state), so the columns
// are drawn before any request; everything is re-read once the event stream
// opens. Updates are pushed by /sandbox/events (server-sent events): a `view`
// event names the member whose view changed, a `sent` event the member who
// sent a message, and only that view is re-read; events arriving together are
// coalesced into one round of requests.
"use strict";

const state = {
  channels: [],
  channelId: null,
  users: [],          // [{character_id, name}], by name
  members: [],        // character ids in join order
  views: new Map(),   // user id -> view
  columns: new Map(), // user id -> column parts (render.js)
  unchecked: new Map(), // user id -> Set of recipient ids left out
  dirty: new Set(),
  listsDirty: false,
  scheduled: false,
  flushing: false,
  status: null,       // the script status last shown in the banner
  dismissedErrors: 0, // handler errors up to this count were dismissed
};

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

let toastTimer = null;
function showError(error) {
  const toast = document.getElementById("error");
  toast.textContent = String(error && error.message ? error.message : error);
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 6000);
}

const query = (params) => new URLSearchParams(params).toString();

async function loadLists() {
  const [channels, users, members] = await Promise.all([
    api("GET", "/sandbox/channels"),
    api("GET", "/sandbox/users"),
    api("GET", "/sandbox/members?" + query({ channel_id: state.channelId })),
  ]);
  state.channels = channels;
  state.users = users.users;
  state.members = members.members.map((m) => m.character_id);
}

async function loadView(userId) {
  const view = await api("GET", "/sandbox/view?" + query({ user: userId, channel_id: state.channelId }));
  state.views.set(userId, view);
}

/** Everything from scratch: on start, on a channel switch, after a resync. */
async function loadAll() {
  const channels = await api("GET", "/sandbox/channels");
  const wanted = new URLSearchParams(location.hash.slice(1)).get("channel") || state.channelId;
  const chosen = channels.find((c) => c.channel_id === wanted) || channels[0];
  if (!chosen) {
    document.getElementById("channel-name").textContent = "no channel yet";
    return;
  }
  state.channelId = chosen.channel_id;
  await loadLists();
  await Promise.all(state.users.map((u) => loadView(u.character_id)));
  render();
}

/**
 * The state the server embedded in the page (the first channel's lists and
 * views), drawn at once; false if there is none or the URL asks for another
 * channel, and loadAll draws the page instead.
 */
function applyInitial() {
  const node = document.getElementById("initial-state");
  let initial = null;
  try {
    initial = JSON.parse(node ? node.textContent : "null");
  } catch (_) {
    return false;
  }
  if (!initial) return false;
  if ("status" in initial) renderStatus(initial.status);
  const wanted = new URLSearchParams(location.hash.slice(1)).get("channel");
  if (!initial.channel_id || (wanted && wanted !== initial.channel_id)) return false;
  state.channels = initial.channels;
  state.channelId = initial.channel_id;
  state.users = initial.users;
  state.members = initial.members.map((m) => m.character_id);
  for (const [id, view] of Object.entries(initial.views || {})) state.views.set(id, view);
  render();
  return true;
}

function markDirty(userId) {
  state.dirty.add(userId);
  state.listsDirty = true;
  schedule();
}

function schedule() {
  if (state.scheduled || state.flushing) return;
  state.scheduled = true;
  setTimeout(flush, 0);
}

/** One round of requests for everything marked since the last round. */
async function flush() {
  state.scheduled = false;
  if (!state.channelId) return; // loadAll has not picked a channel yet
  state.flushing = true;
  const users = [...state.dirty];
  const lists = state.listsDirty;
  state.dirty.clear();
  state.listsDirty = false;
  try {
    await Promise.all([lists ? loadLists() : null, ...users.map(loadView)]);
    const missing = state.users.map((u) => u.character_id).filter((id) => !state.views.has(id));
    await Promise.all(missing.map(loadView));
    render(users.concat(missing));
  } catch (error) {
    showError(error);
  } finally {
    state.flushing = false;
    if (state.dirty.size || state.listsDirty) schedule();
  }
}

/** Columns in order: members as they joined, then the others by name. */
function orderedUsers() {
  const byId = new Map(state.users.map((u) => [u.character_id, u]));
  const members = state.members.filter((id) => byId.has(id)).map((id) => byId.get(id));
  const others = state.users.filter((u) => !state.members.includes(u.character_id));
  return members.concat(others);
}

const actions = {
  async act(user, action, fields) {
    try {
      await api("POST", "/sandbox/act", { ...fields, user: user.character_id, channel_id: state.channelId, action });
      markDirty(user.character_id);
    } catch (error) {
      showError(error);
    }
  },
  send(user, parts) {
    const text = parts.text.value.trim();
    const recipients = [...parts.recipients.querySelectorAll("input:checked")].map((box) => box.value);
    if (!text) return showError("Type a message first.");
    if (!recipients.length) return showError("Choose at least one character to send to.");
    parts.text.value = "";
    return actions.act(user, "message", { text, recipients });
  },
  clickButton(user, button) {
    const dialog = button.dialog;
    if (dialog && ((dialog.components || []).length || (dialog.bottom_buttons || []).length)) {
      openDialog(dialog, (args, bottom) => actions.act(user, "button_click",
        { button_id: button.button_id, arguments: args, bottom_button_id: bottom }));
    } else {
      actions.act(user, "button_click", { button_id: button.button_id });
    }
  },
  openMenu(event, user, view, message) {
    const items = view.menu.filter((item) => !item.message_subtypes || !item.message_subtypes.length
      || item.message_subtypes.includes(message.subtype));
    if (!items.length) return;
    showMenu(event, items, (item) => {
      const fields = { menu_item_id: item.menu_item_id, message_id: message.message_id };
      if (item.dialog) {
        openDialog(item.dialog, (args, bottom) =>
          actions.act(user, "menu_item_click", { ...fields, arguments: args, bottom_button_id: bottom }));
      } else {
        actions.act(user, "menu_item_click", fields);
      }
    });
  },
};

/** Brings the page in line with `state`; re-fills the columns of `changed` (all if omitted). */
function render(changed) {
  const main = document.getElementById("members");
  const channel = state.channels.find((c) => c.channel_id === state.channelId);
  renderChannels(channel);
  const users = orderedUsers();
  const ids = new Set(users.map((u) => u.character_id));
  for (const [id, parts] of state.columns) {
    if (!ids.has(id)) { parts.root.remove(); state.columns.delete(id); }
  }
  users.forEach((user, index) => {
    let parts = state.columns.get(user.character_id);
    const fresh = !parts;
    if (fresh) {
      parts = memberColumn(user, actions);
      state.columns.set(user.character_id, parts);
    }
    if (main.children[index] !== parts.root) main.insertBefore(parts.root, main.children[index] || null);
    setMembership(parts, state.members.includes(user.character_id));
    const view = state.views.get(user.character_id);
    if (view && (fresh || !changed || changed.includes(user.character_id))) {
      // A view that did not change is left alone (a re-read after the event
      // stream opens must not swap the buttons under a click).
      const shown = JSON.stringify(view);
      if (parts.shown === shown) return;
      parts.shown = shown;
      if (!state.unchecked.has(user.character_id)) state.unchecked.set(user.character_id, new Set());
      fill(parts, user, view, state.unchecked.get(user.character_id), actions);
    }
  });
  document.getElementById("empty").hidden = users.length > 0;
}

function renderChannels(channel) {
  const picker = document.getElementById("channel-picker");
  const select = document.getElementById("channel");
  picker.hidden = state.channels.length < 2;
  const options = state.channels.map((c) => el("option", { value: c.channel_id }, c.channel_name || c.channel_id));
  if (select.options.length !== options.length) select.replaceChildren(...options);
  select.value = state.channelId;
  document.getElementById("channel-name").textContent = channel ? `#${channel.channel_name}` : "";
  const service = document.getElementById("service-state");
  const connected = !!(channel && channel.service_connected);
  service.textContent = connected ? "service connected" : "no service connected";
  service.className = "pill " + (connected ? "ok" : "warn");
}

/** How many handler errors shown at most; the rest are in GET /sandbox/status. */
const ERRORS_SHOWN = 3;

function renderStatus(status) {
  state.status = status;
  document.getElementById("spell").hidden = !status;
  const banner = document.getElementById("banner");
  if (!status) {
    banner.className = "banner none";
    banner.replaceChildren(el("strong", {}, "No service attached by dev."),
      " This is a plain sandbox: members see what any connected service sends them.");
    return;
  }
  if (status.error) {
    banner.className = "banner error";
    banner.replaceChildren(el("strong", {}, `Reload failed; still running version ${status.version}.`),
      " Fix the script and save again.", el("pre", { class: "diagnostic" }, status.error));
    return;
  }
  if (!status.version) {
    banner.className = "banner none";
    banner.replaceChildren(el("strong", {}, "Loading the script…"));
    return;
  }
  const failed = handlerErrorsBanner(status);
  if (failed) {
    banner.className = "banner error";
    banner.replaceChildren(...failed);
    return;
  }
  const loaded = new Date(status.loaded_at_ms).toLocaleTimeString();
  const took = status.last_reload_ms != null ? `, reload took ${status.last_reload_ms} ms` : "";
  const total = status.handler_errors || 0;
  banner.className = "banner ok";
  const parts = [el("strong", {}, `Script version ${status.version}`),
    ` running since ${loaded}${took}`,
    status.files && status.files.length ? el("span", { class: "files" }, ` (${status.files.join(", ")})`) : null,
    deployPart(status),
    total ? el("span", { class: "files" }, `; ${total} handler ${total === 1 ? "error" : "errors"} since dev started`) : null,
    timerList(status.timers || [], status.timers_pending || 0)];
  banner.replaceChildren(...parts.filter((part) => part !== null)); // not the text "null"
}

/**
 * The deployed version (docs/DEPLOY.md), when a deploy brought one: its
 * version, id and hash, its state while it runs, and each script thread's
 * version while they differ (a canary). Null otherwise.
 */
function deployPart(status) {
  const d = status.deploy;
  if (!d) return null;
  const sha = (d.sha256 || "").slice(0, 12);
  const version = d.version || "the version it started with";
  let text = `; deploy ${d.id}: ${version}${sha ? ` (sha256 ${sha})` : ""}, ${d.state.replace("_", " ")}`;
  const threads = status.thread_versions || [];
  if (threads.some((t) => t.deploy_id !== (threads[0] || {}).deploy_id)) {
    text += `; threads run ${threads.map((t, i) => `${i}: ${t.version || "start"}`).join(", ")}`;
  }
  return el("span", { class: "files deploy" }, text);
}

/**
 * The banner's parts for the running version's handler errors not yet
 * dismissed (the last few, newest last, with a Dismiss button), or null if
 * there are none. A good reload starts the count afresh (errors_at_load).
 */
function handlerErrorsBanner(status) {
  const total = status.handler_errors || 0;
  const since = Math.max(status.errors_at_load || 0, state.dismissedErrors);
  const fresh = total - since;
  if (fresh <= 0) return null;
  const recent = status.recent_errors || [];
  const shown = recent.slice(-Math.min(fresh, ERRORS_SHOWN));
  const noun = fresh === 1 ? "handler error" : "handler errors";
  const dismiss = el("button", { type: "button", class: "dismiss", onclick: () => {
    state.dismissedErrors = total;
    renderStatus(state.status);
  } }, "Dismiss");
  const more = fresh > shown.length ? ` (the last ${shown.length} below)` : "";
  return [el("strong", {}, `${fresh} ${noun} in script version ${status.version}${more}.`),
    " Fix the script and save, or dismiss. ", dismiss,
    el("pre", { class: "diagnostic handler-errors" }, shown.join("\n"))];
}

/* The pending timers: "2 timers: tick every 1000 ms, close_poll at 12:03:00". */
function timerList(timers, pending) {
  if (!pending) return null;
  const shown = timers.slice(0, 5).map((t) => t.every_ms != null
    ? `${t.function} every ${t.every_ms} ms`
    : `${t.function} at ${new Date(t.due_at_ms).toLocaleTimeString()}`);
  const more = pending > shown.length ? `, and ${pending - shown.length} more` : "";
  const noun = pending === 1 ? "timer" : "timers";
  return el("div", { class: "timers" }, `${pending} ${noun} pending: ${shown.join(", ")}${more}`);
}

function connect() {
  const live = document.getElementById("live");
  const events = new EventSource("/sandbox/events");
  events.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "pill ok";
    loadAll().catch(showError);
  });
  events.addEventListener("error", () => {
    live.textContent = "reconnecting…";
    live.className = "pill warn";
  });
  events.addEventListener("view", (event) => {
    const change = JSON.parse(event.data);
    if (change.channel_id === state.channelId) markDirty(change.user_id);
  });
  events.addEventListener("sent", (event) => {
    const sent = JSON.parse(event.data);
    if (sent.channel_id === state.channelId) markDirty(sent.user_id);
  });
  events.addEventListener("status", (event) => {
    renderStatus(JSON.parse(event.data).status);
    state.listsDirty = true;
    schedule();
  });
  events.addEventListener("resync", () => loadAll().catch(showError));
}

function start() {
  document.getElementById("add-member").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("new-member");
    const name = input.value.trim();
    if (!name) return;
    try {
      const user = await api("POST", "/sandbox/users", { name });
      input.value = "";
      markDirty(user.user_id);
    } catch (error) {
      showError(error);
    }
  });
  document.getElementById("spell").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = document.getElementById("spell-value").value.trim();
    const result = document.getElementById("spell-result");
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      value = text; // a bare word is sent as a string
    }
    result.className = "";
    result.textContent = "…";
    try {
      const answer = await api("POST", "/sandbox/spell", value);
      result.textContent = `→ ${JSON.stringify(answer.ok)}`;
    } catch (error) {
      result.className = "failed";
      result.textContent = `✗ ${error.message}`;
    }
  });
  document.getElementById("channel").addEventListener("change", (event) => {
    state.channelId = event.target.value;
    location.hash = query({ channel: state.channelId });
    for (const parts of state.columns.values()) parts.root.remove();
    state.columns.clear();
    state.views.clear();
    loadAll().catch(showError);
  });
  document.addEventListener("click", (event) => {
    if (!event.target.closest("#menu")) hideMenu();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") hideMenu();
  });
  applyInitial();
  connect();
}

start();
