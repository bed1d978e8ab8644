// The live view's page script: draws what the server streams (GET /events, server-sent events,
// one connection) and sends the controls (POST /actions/<name> with the run's token). Plain
// browser JavaScript, no build step. The browser reconnects a dropped stream by itself; the
// page says so meanwhile and keeps what it has (scripts/dashboard/dashboard.ts).
"use strict";

const token = document.querySelector('meta[name="dashboard-token"]').content;
const WINDOW_MS = 60_000;
const SHAPES = {
  working: "●",
  broken: "✖",
  "state-lost": "▲",
  "write-lost": "■",
  revived: "◆",
  waiting: "…",
  quota: "⊘",
  gone: "○",
  paused: "‖",
  starting: "◌",
};
const WORDS = {
  working: "working",
  broken: "session broken",
  "state-lost": "state lost",
  "write-lost": "write lost",
  revived: "revived",
  waiting: "waiting",
  quota: "quota full",
  gone: "account gone",
  paused: "paused",
  starting: "starting",
};
const INSTANCE_SHAPES = { up: "● up", down: "✖ down", starting: "◐ starting", stopping: "◑ stopping" };
/** The checker's figures, each with the shape that its count carries in a user's row. */
const FIGURES = [
  ["sessions_broken", "sessions broken", "✖"],
  ["session_state_lost", "state lost", "▲"],
  ["writes_lost", "writes lost", "■"],
  ["revived", "revived", "◆"],
];

// The page is laid out for 1280x720 and scaled to fit the window whole: on a 1920x1080
// projector everything is 1.5 times as large, and nothing reflows.
const PAGE = { width: 1280, height: 720 };
let scale = 1;
function fitToWindow() {
  scale = Math.min(window.innerWidth / PAGE.width, window.innerHeight / PAGE.height);
  const left = Math.max(0, (window.innerWidth - PAGE.width * scale) / 2);
  document.body.style.transform = `translate(${left}px, 0) scale(${scale})`;
}
window.addEventListener("resize", fitToWindow);
fitToWindow();

const state = { snapshot: null, lit: [], marks: [], narration: [], selected: 0, offset: 0, cluster: "" };
const $ = (selector) => document.querySelector(selector);

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// ---------------------------------------------------------------------------------------------
// The stream.

// The server sends four messages a second. A stream that errors is reconnected by the browser;
// one that merely goes silent (a frozen server, a laptop that slept) is not, so after 3 s of
// silence the page says so and opens a new one itself.
const SILENCE_MS = 3000;
let stream;
let lastMessage = Date.now();

function connect() {
  stream?.close();
  stream = new EventSource("/events");
  lastMessage = Date.now();
  stream.addEventListener("error", () => setStream(false));
  stream.addEventListener("tick", (event) => {
    lastMessage = Date.now();
    setStream(true);
    receive(JSON.parse(event.data));
  });
}

setInterval(() => {
  if (Date.now() - lastMessage < SILENCE_MS) return;
  setStream(false);
  connect();
}, 1000);

function setStream(up) {
  const pill = $("#stream");
  pill.textContent = up ? "● live" : "✖ stream lost: reconnecting…";
  pill.className = `pill ${up ? "stream-up" : "stream-down"}`;
  $("#busy").classList.toggle("stale", !up); // its place goes to the longer stream pill: nothing wraps
}

function receive(message) {
  if (message.actions) drawControls(message.actions);
  const previous = state.snapshot;
  state.snapshot = message.snapshot;
  // The server's clock (ms since it started) against ours, for the timeline.
  state.offset = Date.now() - message.snapshot.t;
  // A (re)connected stream starts with the last minute again: replace, never add twice. A switch
  // of design or balancer, or a reset (the count of operations starts again), leaves nothing of
  // the cluster before: its lanes, marks and sentences go with it.
  const cluster = `${message.snapshot.design}|${message.snapshot.lb}`;
  const reset = previous && message.snapshot.figures.ops < previous.figures.ops;
  if (message.hello || cluster !== state.cluster || reset) {
    Object.assign(state, { lit: [], marks: [], narration: [], cluster });
    for (const chips of document.querySelectorAll(".chips")) chips.replaceChildren();
  }
  state.lit.push(...message.lit);
  state.marks.push(...message.marks);
  state.narration.push(...message.narration);
  const cutoff = message.snapshot.t - WINDOW_MS;
  state.lit = state.lit.filter((entry) => entry.at >= cutoff);
  state.marks = state.marks.filter((entry) => entry.at >= cutoff);
  state.narration = state.narration.slice(-12);
  render(message.lit);
}

// ---------------------------------------------------------------------------------------------
// Drawing.

function render(fresh) {
  const snapshot = state.snapshot;
  document.body.dataset.design = snapshot.design;
  renderHeader(snapshot);
  renderLanes(snapshot, fresh);
  renderTimeline(snapshot);
  renderFigures(snapshot);
  renderUsers(snapshot);
  renderNodes(snapshot);
  renderBurst(snapshot);
  renderNarration();
  for (const node of document.querySelectorAll(".store-only")) node.hidden = snapshot.store === "none";
  for (const button of document.querySelectorAll("button[data-toggle]")) {
    const shown = controlFor(button.dataset.action);
    button.firstChild.textContent = `${shown.label} `;
  }
}

function renderHeader(snapshot) {
  document.title = `Live: ${snapshot.design}`;
  const select = $("#design");
  if (select.options.length === 0)
    for (const design of snapshot.designs) select.append(element("option", { value: design, text: design }));
  if (document.activeElement !== select) select.value = snapshot.design;
  const lb = $("#lb");
  if (lb) lb.textContent = snapshot.lb;
  $("#store").textContent =
    snapshot.store === "none" ? "no store" : snapshot.store === "sentinel" ? "replicated Redis" : "one Redis";
  $("#clock").textContent = `t = ${Math.floor(snapshot.t / 1000)} s`;
  $("#busy").textContent = snapshot.busy ? `⏳ ${snapshot.busy}…` : snapshot.paused ? "‖ paused" : "";
}

function renderLanes(snapshot, fresh) {
  const lanes = $("#lanes");
  const ids = `${state.cluster}|${snapshot.instances.map((instance) => instance.id).join()}`;
  if (lanes.dataset.ids !== ids) {
    lanes.replaceChildren(
      ...snapshot.instances.map((instance, i) => {
        const buttons = element(
          "div",
          { class: "buttons" },
          ...controls
            .filter((action) => action.place === "lane")
            .map((action) =>
              element("button", { "data-action": action.name, "data-instance": instance.id, text: action.label }),
            ),
        );
        return element(
          "div",
          { class: "lane", "data-instance": instance.id },
          element(
            "div",
            {},
            element("div", { class: "name", text: `${i + 1} · ${instance.id}` }),
            element("div", { class: "detail state-line" }),
            element("div", { class: "detail served-line" }),
          ),
          element("div", { class: "chips" }),
          buttons,
        );
      }),
    );
    lanes.dataset.ids = ids;
  }
  snapshot.instances.forEach((instance, i) => {
    const lane = lanes.querySelector(`.lane[data-instance="${instance.id}"]`);
    lane.classList.toggle("down", instance.state !== "up");
    lane.classList.toggle("selected", i === state.selected);
    lane.dataset.state = instance.state;
    lane.querySelector(".state-line").textContent =
      `${INSTANCE_SHAPES[instance.state]}${instance.pid ? ` · pid ${instance.pid}` : ""}`;
    lane.querySelector(".served-line").textContent = `port ${instance.port} · served ${instance.served}`;
    for (const action of controls.filter((each) => each.place === "lane"))
      lane.querySelector(`[data-action="${action.name}"]`).disabled =
        Boolean(action.when) && instance.state !== action.when;
    const mine = fresh.filter((entry) => entry.lane === instance.id);
    if (mine.length > 0) {
      const chips = lane.querySelector(".chips");
      for (const entry of mine)
        chips.prepend(
          element("span", {
            class: `chip ${entry.ok ? "ok" : "fail"}`,
            text: entry.ok ? `${entry.user}` : `${entry.user}✖${entry.status ?? ""}`,
          }),
        );
      while (chips.children.length > 40) chips.lastChild.remove(); // those past the first line are hidden
      lane.classList.add("flash");
      setTimeout(() => lane.classList.remove("flash"), 180);
    }
  });
}

// The timeline: a band of ⚡ labels on top, then one row per instance (and "no answer").
const LABEL_ROWS = 3;
const LABEL_ROW_HEIGHT = 18;
const AXIS_HEIGHT = 16;

function renderTimeline(snapshot) {
  const canvas = $("#timeline");
  // Drawn at the size it is shown (the column's width), sharp on any screen.
  const ratio = (window.devicePixelRatio || 1) * scale;
  const shownWidth = canvas.clientWidth;
  const shownHeight = canvas.clientHeight;
  if (canvas.width !== Math.round(shownWidth * ratio) || canvas.height !== Math.round(shownHeight * ratio)) {
    canvas.width = Math.round(shownWidth * ratio);
    canvas.height = Math.round(shownHeight * ratio);
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  const lanes = [...snapshot.instances.map((instance) => instance.id), "none"];
  const left = 150;
  const width = shownWidth - left - 8;
  const top = LABEL_ROWS * LABEL_ROW_HEIGHT + 4;
  const rowHeight = (shownHeight - top - AXIS_HEIGHT) / lanes.length;
  const x = (at) => left + ((at - (snapshot.t - WINDOW_MS)) / WINDOW_MS) * width;
  context.clearRect(0, 0, shownWidth, shownHeight);
  context.font = "14px system-ui, sans-serif";
  context.textBaseline = "middle";
  lanes.forEach((lane, row) => {
    context.fillStyle = "#000";
    context.fillText(lane === "none" ? "no answer" : lane, 6, top + row * rowHeight + rowHeight / 2, left - 12);
    context.strokeStyle = "#ccc";
    context.beginPath();
    context.moveTo(left, top + (row + 1) * rowHeight);
    context.lineTo(left + width, top + (row + 1) * rowHeight);
    context.stroke();
  });
  for (const entry of state.lit) {
    const row = lanes.indexOf(entry.lane);
    if (row < 0) continue;
    const y = top + row * rowHeight + rowHeight / 2;
    if (entry.ok) {
      context.fillStyle = "#0072b2";
      context.fillRect(x(entry.at) - 1, y - 6, 3, 12);
    } else {
      // A cross, not only a colour.
      context.strokeStyle = "#d55e00";
      context.lineWidth = 2.5;
      context.beginPath();
      context.moveTo(x(entry.at) - 5, y - 5);
      context.lineTo(x(entry.at) + 5, y + 5);
      context.moveTo(x(entry.at) + 5, y - 5);
      context.lineTo(x(entry.at) - 5, y + 5);
      context.stroke();
      context.lineWidth = 1;
    }
  }
  const placed = placeMarkLabels(state.marks, x, left, left + width);
  context.fillStyle = "#000";
  for (const { mark, row } of placed) {
    const y = row === null ? top : row * LABEL_ROW_HEIGHT + LABEL_ROW_HEIGHT;
    context.fillRect(x(mark.at) - 1, y, 3, shownHeight - AXIS_HEIGHT - y);
  }
  context.fillStyle = "#595959";
  context.textBaseline = "bottom";
  context.fillText("60 s ago", left, shownHeight - 1);
  context.fillText("now", left + width - context.measureText("now").width, shownHeight - 1);
}

/**
 * The ⚡ labels as elements over the canvas, newest first, each in the first of three rows where
 * it overlaps no other (right of its mark, or left of it near "now"). One that fits nowhere is
 * shortened to ⚡, and left without a label when even that does not fit: its line stays.
 */
function placeMarkLabels(marks, x, from, to) {
  const layer = $("#timeline-labels");
  const rows = Array.from({ length: LABEL_ROWS }, () => []);
  const placed = [];
  const labels = [];
  for (const mark of [...marks].reverse()) {
    const at = x(mark.at);
    if (at < from || at > to) continue;
    let spot = null;
    for (const text of [`⚡ ${mark.label}`, "⚡"]) {
      const label = element("span", { class: "mark-label", text });
      layer.append(label); // measured where it will be shown
      const width = label.offsetWidth;
      const start = Math.max(from, at + 3 + width > to ? at - 3 - width : at + 3);
      const row = rows.findIndex((taken) => taken.every(([a, b]) => start + width + 4 <= a || start >= b + 4));
      if (row >= 0 && start + width <= to) {
        rows[row].push([start, start + width]);
        Object.assign(label.style, { left: `${start}px`, top: `${row * LABEL_ROW_HEIGHT}px` });
        labels.push(label);
        spot = row;
        break;
      }
      label.remove();
    }
    placed.push({ mark, row: spot });
  }
  layer.replaceChildren(...labels);
  return placed;
}

function renderFigures(snapshot) {
  const figures = snapshot.figures;
  $("#figures").replaceChildren(
    ...FIGURES.map(([key, label, shape]) =>
      element(
        "div",
        { class: `figure${figures[key] > 0 ? " bad" : ""}`, "data-figure": key },
        element("div", { class: "value", text: `${figures[key] > 0 ? `${shape} ` : ""}${figures[key]}` }),
        element("div", { class: "label", text: `${shape} ${label}` }),
      ),
    ),
    element("div", {
      id: "totals",
      // Every operation is one of the three: the figures add up.
      text: `${figures.ops} operations: ${figures.ok} ok, ${figures.refused ?? 0} refused (401), ${figures.errors} failed after retries`,
    }),
  );
}

function renderUsers(snapshot) {
  const instances = new Set(snapshot.instances.map((instance) => instance.id));
  const homes = new Set(snapshot.users.map((user) => user.session));
  const [home] = homes;
  // One place for every user, and not an instance: said once in the heading, not in every row.
  const shared = homes.size === 1 && !instances.has(home) && home !== "not logged in";
  $("#users").classList.toggle("shared-home", shared);
  $("#session-home").textContent = shared ? `every session lives in: ${home}` : "";
  $("#users tbody").replaceChildren(
    ...snapshot.users.map((user) => {
      const alarm = ["broken", "state-lost", "write-lost", "revived", "quota"].includes(user.state);
      const counts = FIGURES.map(([key, , shape]) => (user.counts[key] > 0 ? `${shape}${user.counts[key]}` : ""))
        .filter(Boolean)
        .join(" ");
      return element(
        "tr",
        { class: alarm ? "alarm" : "", "data-user": String(user.user), "data-state": user.state },
        element("td", { text: `user ${user.user}` }),
        element("td", { class: `state ${user.state}`, text: `${SHAPES[user.state]} ${WORDS[user.state]}` }),
        element("td", { class: "counts", text: counts }),
        element("td", { class: "session", text: user.session }),
        element("td", { class: "last", text: user.last }),
      );
    }),
  );
}

function renderNodes(snapshot) {
  $("#nodes").replaceChildren(
    ...snapshot.nodes.map((node) =>
      element(
        "div",
        { class: `node ${node.role === "down" || node.role === "frozen" ? node.role : ""}`, "data-role": node.role },
        element(
          "div",
          {},
          element("b", { text: node.name }),
          ` ${{ primary: "★ primary", replica: "◇ replica", down: "✖ down", frozen: "❄ frozen", "no answer": "? no answer" }[node.role]} · ${node.keys ?? "?"} keys`,
        ),
        element("div", { class: "commands", text: node.commands[node.commands.length - 1] ?? "no commands yet" }),
      ),
    ),
  );
}

function renderBurst(snapshot) {
  const burst = snapshot.burst;
  if (!burst) return $("#burst").replaceChildren();
  if ($("#burst").dataset.at === String(burst.at)) return;
  $("#burst").dataset.at = String(burst.at);
  const boxes = burst.uploads.map((upload, i) => {
    const kind = !upload.acknowledged ? "unacked" : upload.kept === false ? "lost" : "kept";
    return element("span", {
      class: `box ${kind}`,
      "data-kept": String(upload.kept),
      text: `${kind === "lost" ? "✖" : kind === "unacked" ? "–" : "✓"}${i + 1}`,
    });
  });
  $("#burst").replaceChildren(
    element("b", { text: `Burst by user ${burst.user}: ✓ kept in the session, ✖ lost from it` }),
    element("div", { class: "boxes" }, ...boxes),
    element("div", { id: "burst-sentence", text: burst.sentence }),
  );
}

function renderNarration() {
  const footer = $("#narration");
  const newest = [...state.narration].reverse().slice(0, 4);
  footer.replaceChildren(
    ...newest.map((entry) =>
      element(
        "p",
        { class: `sentence ${entry.tone}` },
        element("span", { class: "when", text: `${(entry.at / 1000).toFixed(1)} s` }),
        entry.text,
      ),
    ),
  );
  // As many whole sentences as fit: the oldest go first, and a very long newest one gets smaller type.
  const overflows = () => footer.scrollHeight > footer.clientHeight;
  while (overflows() && footer.children.length > 1) footer.lastChild.remove();
  if (overflows()) footer.firstChild.classList.add("long");
}

// ---------------------------------------------------------------------------------------------
// The controls: every button is also a key.

async function act(action, body = {}) {
  try {
    const response = await fetch(`/actions/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Dashboard-Token": token },
      body: JSON.stringify(body),
    });
    if (!response.ok) toast((await response.json()).message ?? `${action}: ${response.status}`);
  } catch (error) {
    toast(`${action}: ${error.message}`);
  }
}

function toast(text) {
  const box = $("#toast");
  box.textContent = text;
  box.hidden = false;
  setTimeout(() => (box.hidden = true), 4000);
}

function selectedInstance() {
  return state.snapshot?.instances[state.selected]?.id;
}

/** The controls' table, as the server sent it (scripts/dashboard/actions.ts): name, key, label, needs, place, sentence. */
let controls = [];

function keyName(key) {
  return key === " " ? "Space" : key.toUpperCase();
}

/** The control a button or key sends now: its toggle while the users are paused (Pause sends resume). */
function controlFor(name) {
  const action = controls.find((each) => each.name === name);
  return action?.toggle && state.snapshot?.paused ? controls.find((each) => each.name === action.toggle) : action;
}

/** The buttons of the bar and the header, and the help's rows, drawn from the table (the lanes' in renderLanes). */
function drawControls(table) {
  controls = table;
  const button = (action) =>
    element(
      "button",
      {
        "data-action": action.name,
        ...(action.toggle && { "data-toggle": action.toggle }),
        ...(action.needs === "store" && { class: "store-only" }),
        title: action.sentence,
      },
      `${action.label} `,
      element("kbd", { text: keyName(action.key) }),
    );
  $("#controls").replaceChildren(...controls.filter((action) => action.place === "bar").map(button));
  $("#header-controls").replaceChildren(
    ...controls
      .filter((action) => action.place === "header" && action.needs === "strategy")
      .map((action) => {
        const shown = button(action);
        shown.firstChild.textContent = `${action.label}: `;
        shown.insertBefore(element("b", { id: "lb", text: state.snapshot?.lb ?? "?" }), shown.lastChild);
        shown.insertBefore(document.createTextNode(" "), shown.lastChild);
        return shown;
      }),
  );
  $("#help-actions").replaceChildren(
    ...controls
      .filter((action) => action.place !== "none")
      .map((action) =>
        element(
          "tr",
          {},
          element("td", {}, element("kbd", { text: keyName(action.key) })),
          element("td", { text: `${action.label}: ${action.sentence}` }),
        ),
      ),
  );
  state.cluster = ""; // the lanes are drawn again, with their controls
}

/** What a control needs besides the press, as its body: the selected instance, the next design, the other strategy. */
function bodyFor(action, instance) {
  const snapshot = state.snapshot;
  if (action.needs === "instance") return { instance: instance ?? selectedInstance() };
  if (action.needs === "design")
    return { design: snapshot.designs[(snapshot.designs.indexOf(snapshot.design) + 1) % snapshot.designs.length] };
  if (action.needs === "strategy") return { strategy: snapshot.lb === "sticky" ? "round-robin" : "sticky" };
  return {};
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.id === "help-button") return toggleHelp();
  const action = button.dataset.action && controlFor(button.dataset.action);
  if (action && state.snapshot) act(action.name, bodyFor(action, button.dataset.instance));
});

$("#design").addEventListener("change", (event) => act("design", { design: event.target.value }));

function toggleHelp(show = $("#help").hidden) {
  $("#help").hidden = !show;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.tagName === "SELECT") return;
  const key = event.key.toLowerCase();
  const snapshot = state.snapshot;
  if (key === "?") return toggleHelp();
  if (key === "escape") return toggleHelp(false);
  if (!snapshot) return;
  if (/^[1-9]$/.test(key) && Number(key) <= snapshot.instances.length) {
    state.selected = Number(key) - 1;
    return render([]);
  }
  const pressed = controls.find((action) => action.key === key && action.place !== "none");
  if (!pressed) return;
  const action = controlFor(pressed.name);
  act(action.name, bodyFor(action));
  event.preventDefault();
});

connect();
