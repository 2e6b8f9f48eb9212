// The dev page's DOM building: one column per member, the button dialog and
// the right-click menu. Everything a service or a user sent is inserted as
// text nodes or attributes (never as HTML), and URLs are checked, so a
// message cannot run script in the page. app.js owns data and actions and
// passes them in as `actions`.
"use strict";

/** el("li", {class: "x", onclick: f}, "text", child) -> element. */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A URL safe to put in src/href (http, https, or this origin), else null. */
function safeUrl(text) {
  if (typeof text !== "string" || text === "") return null;
  try {
    const url = new URL(text, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

function avatar(character) {
  const src = safeUrl(character.avatar);
  if (src) return el("img", { class: "avatar", src, alt: "" });
  const initial = (character.name || "?").slice(0, 1).toUpperCase();
  return el("span", { class: "avatar placeholder", "aria-hidden": "true" }, initial);
}

/** The skeleton of a member's column; `fill` puts a view into it. */
function memberColumn(user, actions) {
  const id = "m-" + user.character_id;
  const parts = {};
  parts.badge = el("span", { class: "badge" });
  parts.version = el("span", { class: "version" });
  parts.join = el("button", { type: "button", dataset: { action: "join" }, onclick: () => actions.act(user, "join") }, "Join");
  parts.leave = el("button", { type: "button", dataset: { action: "leave" }, onclick: () => actions.act(user, "leave") }, "Leave");
  parts.refresh = el("button", { type: "button", dataset: { action: "refresh" }, onclick: () => actions.act(user, "refresh") }, "Refresh");
  parts.characters = el("ul", { class: "characters" });
  parts.buttons = el("div", { class: "service-buttons" });
  parts.canvas = el("div", { class: "canvas-items" });
  parts.canvasBox = el("details", { class: "canvas", open: true },
    el("summary", {}, "Canvas"), parts.canvas);
  parts.menu = el("p", { class: "menu-hint" });
  parts.messages = el("ol", { class: "messages", role: "log", "aria-label": `Messages ${user.name} received and sent` });
  parts.noMessages = el("p", { class: "none no-messages" }, "No messages yet");
  // Stick to the newest message unless the reader scrolled up to older ones
  // (shown as data-stick, which tests read).
  parts.stick = true;
  parts.messages.dataset.stick = "true";
  parts.messages.addEventListener("scroll", () => {
    parts.stick = distanceFromBottom(parts.messages) < 24;
    parts.messages.dataset.stick = String(parts.stick);
  });
  parts.recipients = el("div", { class: "recipients" });
  parts.text = el("textarea", { id: id + "-text", rows: 2, placeholder: "Say something" });
  parts.text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      parts.form.requestSubmit();
    }
  });
  parts.form = el("form", { class: "send" },
    el("fieldset", {}, el("legend", {}, "To"), parts.recipients),
    el("label", { for: id + "-text", class: "visually-hidden" }, `Message from ${user.name}`),
    parts.text,
    el("button", { type: "submit" }, "Send"));
  parts.form.addEventListener("submit", (event) => {
    event.preventDefault();
    actions.send(user, parts);
  });
  parts.root = el("section", { class: "member", id, "aria-labelledby": id + "-name",
    dataset: { name: user.name, userId: user.character_id } },
    el("header", { class: "member-head" },
      el("h2", { id: id + "-name" }, user.name), parts.badge, parts.version,
      el("div", { class: "member-actions" }, parts.join, parts.leave, parts.refresh)),
    el("section", { class: "part" }, el("h3", {}, "Characters"), parts.characters),
    el("section", { class: "part" }, el("h3", {}, "Buttons"), parts.buttons),
    parts.canvasBox,
    parts.menu,
    el("section", { class: "part grow" }, el("h3", {}, "Messages"), parts.noMessages, parts.messages),
    parts.form);
  return parts;
}

/** Shows membership: badge, which of Join/Leave applies. */
function setMembership(parts, isMember) {
  parts.root.classList.toggle("absent", !isMember);
  parts.badge.textContent = isMember ? "member" : "not in channel";
  parts.join.disabled = isMember;
  parts.leave.disabled = !isMember;
}

/** The style items aimed at a widget ("canvas") or a button id. */
function styleFor(view, widget, buttonId) {
  return (view.style || []).filter((s) =>
    buttonId === undefined ? s.widget === widget && !s.button_id : s.button_id === buttonId);
}

function applyStyle(node, items) {
  for (const item of items) {
    node.classList.toggle("styled-invisible", item.display === "invisible");
    node.classList.toggle("styled-highlight", item.display === "highlight");
    if (item.display === "invisible") node.title = "invisible (style)";
  }
}

function fill(parts, user, view, selection, actions) {
  parts.version.textContent = `view v${view.version}`;
  parts.root.dataset.version = String(view.version);

  parts.characters.replaceChildren(...view.characters.map((c) =>
    el("li", { dataset: { characterId: c.character_id } }, avatar(c),
      el("span", { class: "name" }, c.name),
      c.character_id === user.character_id ? el("span", { class: "you" }, "you") : null)));
  if (!view.characters.length) parts.characters.append(el("li", { class: "none" }, "nothing yet"));

  parts.buttons.replaceChildren(...view.buttons.map((button) => {
    const node = el("button", { type: "button", class: "service-button",
      dataset: { buttonId: button.button_id },
      onclick: () => actions.clickButton(user, button) }, button.button_text || button.button_id);
    applyStyle(node, styleFor(view, "button", button.button_id));
    return node;
  }));
  if (!view.buttons.length) parts.buttons.append(el("span", { class: "none" }, "none"));

  parts.canvas.replaceChildren(...view.canvas.map((item) => {
    const src = safeUrl(item.path);
    return el("figure", {}, src ? el("img", { src, alt: item.text || "" }) : null,
      item.text ? el("figcaption", {}, item.text) : null);
  }));
  if (!view.canvas.length) parts.canvas.append(el("span", { class: "none" }, "empty"));
  const canvasStyle = styleFor(view, "canvas");
  for (const item of canvasStyle) if (typeof item.expand === "boolean") parts.canvasBox.open = item.expand;
  parts.canvasBox.className = "canvas";
  applyStyle(parts.canvasBox, canvasStyle);

  const menu = view.menu.map((m) => m.menu_item_text || m.menu_item_id);
  parts.menu.textContent = menu.length ? `Menu (right-click a message): ${menu.join(", ")}` : "";

  fillMessages(parts, user, view, actions);

  parts.recipients.replaceChildren(...view.characters.map((c) => {
    const box = el("input", { type: "checkbox", value: c.character_id,
      checked: !selection.has(c.character_id) });
    box.addEventListener("change", () => {
      if (box.checked) selection.delete(c.character_id);
      else selection.add(c.character_id);
    });
    return el("label", { class: "recipient" }, box, c.name);
  }));
  if (!view.characters.length) parts.recipients.append(el("span", { class: "none" }, "no characters to address"));
}

function distanceFromBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight;
}

/** Scrolls to the newest message if the reader has not scrolled up. */
function keepNewestInSight(parts) {
  if (parts.stick) parts.messages.scrollTop = parts.messages.scrollHeight;
}

/** The messages received and sent, as one conversation in the order they happened. */
function fillMessages(parts, user, view, actions) {
  const received = view.messages.map((m) => [m.seq || 0, messageItem(m, user, view, actions)]);
  const sent = (view.sent || []).map((m) => [m.seq || 0, sentItem(m)]);
  const items = received.concat(sent).sort((a, b) => a[0] - b[0]).map(([, item]) => item);
  parts.messages.replaceChildren(...items);
  parts.noMessages.hidden = items.length > 0;
  parts.messages.hidden = items.length === 0;
  keepNewestInSight(parts);
  for (const media of parts.messages.querySelectorAll("img, audio")) {
    media.addEventListener(media.tagName === "IMG" ? "load" : "loadedmetadata", () => keepNewestInSight(parts));
  }
}

/** A message's text, image, audio or link, as text nodes and checked URLs. */
function messageBody(message) {
  const content = message.content || {};
  const body = [];
  const link = safeUrl(content.path) || safeUrl(content.link);
  if (message.subtype === "image" && link) body.push(el("img", { src: link, alt: content.text || "image" }));
  else if (message.subtype === "audio" && link) body.push(el("audio", { controls: true, src: link }));
  if (content.text) body.push(el("span", { class: "text" }, content.text));
  if (link && message.subtype !== "image" && message.subtype !== "audio") {
    body.push(el("a", { href: link, target: "_blank", rel: "noopener noreferrer" },
      content.title || content.filename || content.link || content.path));
  }
  if (!body.length) body.push(el("span", { class: "text" }, JSON.stringify(content)));
  return el("div", { class: "body" }, body);
}

function messageItem(message, user, view, actions) {
  const item = el("li", { class: "received", tabindex: 0,
    dataset: { messageId: message.message_id, subtype: message.subtype } },
    el("span", { class: "sender" }, message.sender_name || message.sender || "?"),
    message.subtype !== "text" ? el("span", { class: "subtype" }, message.subtype) : null,
    messageBody(message));
  item.addEventListener("contextmenu", (event) => actions.openMenu(event, user, view, message));
  return item;
}

/** A message the member sent: "you → bob, Meow", right-aligned; no menu (the service never sent it). */
function sentItem(message) {
  const names = (message.recipients || []).map((r) => r.name || r.character_id);
  return el("li", { class: "sent", dataset: { messageId: message.message_id, subtype: message.subtype } },
    el("span", { class: "sender" }, names.length ? `you → ${names.join(", ")}` : "you →"),
    message.subtype !== "text" ? el("span", { class: "subtype" }, message.subtype) : null,
    messageBody(message));
}

/** Opens a button's or menu item's dialog; `submit(args, bottomId)` sends. */
function openDialog(dialog, submit) {
  const box = document.getElementById("dialog");
  const form = document.getElementById("dialog-form");
  const components = dialog.components || [];
  const fields = components.map((c, i) => {
    const id = "dialog-field-" + i;
    const common = { id, name: c.label || id, required: !!c.required, placeholder: c.placeholder || null };
    let input;
    if (c.type === "textbox") input = el("textarea", { ...common, rows: 3 });
    else if (c.type === "dropdown") {
      input = el("select", common, el("option", { value: "" }, c.placeholder || "choose…"),
        (c.choices || []).map((choice) => el("option", { value: choice }, choice)));
    } else {
      const type = { number: "number", password: "password" }[c.type] || "text";
      input = el("input", { ...common, type });
    }
    return { label: c.label || "", input,
      row: el("div", { class: "field" }, el("label", { for: id }, c.label || "", c.required ? " *" : ""), input) };
  });
  const bottoms = dialog.bottom_buttons && dialog.bottom_buttons.length
    ? dialog.bottom_buttons : [{ id: "confirm", text: "OK", submit: true }];
  form.replaceChildren(
    el("h2", { id: "dialog-title" }, dialog.title || "Dialog"),
    ...fields.map((f) => f.row),
    el("div", { class: "dialog-buttons" },
      el("button", { type: "button", class: "secondary", onclick: () => box.close() }, "Close"),
      bottoms.map((b) => el("button", { type: "submit", value: b.id, formnovalidate: !b.submit,
        dataset: { submit: b.submit ? "true" : "false" } }, b.text || b.id))));
  form.onsubmit = (event) => {
    event.preventDefault();
    const pressed = event.submitter;
    const sends = !pressed || pressed.dataset.submit === "true";
    const args = sends ? fields.map((f) => ({ label: f.label, value: f.input.value })) : [];
    box.close();
    submit(args, pressed ? pressed.value : "confirm");
  };
  box.showModal();
}

/** The right-click menu for one message; items filtered by its subtype. */
function showMenu(event, items, choose) {
  const menu = document.getElementById("menu");
  event.preventDefault();
  menu.replaceChildren(...items.map((item) => el("button", { type: "button", role: "menuitem",
    onclick: () => { hideMenu(); choose(item); } }, item.menu_item_text || item.menu_item_id)));
  menu.hidden = false;
  const x = Math.min(event.clientX, window.innerWidth - menu.offsetWidth - 8);
  const y = Math.min(event.clientY, window.innerHeight - menu.offsetHeight - 8);
  menu.style.left = `${Math.max(0, x)}px`;
  menu.style.top = `${Math.max(0, y)}px`;
  const first = menu.querySelector("button");
  if (first) first.focus();
}

function hideMenu() {
  document.getElementById("menu").hidden = true;
}
