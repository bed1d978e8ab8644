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
  gone: "account gone",
  paused: "paused",
  starting: "starting",
};
const INSTANCE_SHAPES = { up: "● up", down: "✖ down", starting: "◐ starting", stopping: "◑ stopping" };
const FIGURES = [
  ["sessions_broken", "sessions broken"],
  ["session_state_lost", "state lost"],
  ["writes_lost", "writes lost"],
  ["revived", "revived"],
];

const state = { snapshot: null, lit: [], marks: [], narration: [], selected: 0, offset: 0 };
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
}

function receive(message) {
  const previous = state.snapshot;
  state.snapshot = message.snapshot;
  // The server's clock (ms since it started) against ours, for the timeline.
  state.offset = Date.now() - message.snapshot.t;
  // A (re)connected stream starts with the last minute again: replace, never add twice.
  if (message.hello) Object.assign(state, { lit: [], marks: [], narration: [] });
  if (previous && previous.design !== message.snapshot.design) state.lit = [];
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
  $("#pause").firstChild.textContent = snapshot.paused ? "Resume " : "Pause ";
}

function renderHeader(snapshot) {
  const select = $("#design");
  if (select.options.length === 0)
    for (const design of snapshot.designs) select.append(element("option", { value: design, text: design }));
  if (document.activeElement !== select) select.value = snapshot.design;
  $("#lb").textContent = snapshot.lb;
  $("#store").textContent =
    snapshot.store === "none" ? "no store" : snapshot.store === "sentinel" ? "replicated Redis" : "one Redis";
  $("#clock").textContent = `t = ${Math.floor(snapshot.t / 1000)} s`;
  $("#busy").textContent = snapshot.busy ? `⏳ ${snapshot.busy}…` : snapshot.paused ? "‖ paused" : "";
}

function renderLanes(snapshot, fresh) {
  const lanes = $("#lanes");
  const ids = snapshot.instances.map((instance) => instance.id);
  if (lanes.dataset.ids !== ids.join()) {
    lanes.replaceChildren(
      ...snapshot.instances.map((instance, i) => {
        const buttons = element(
          "div",
          { class: "buttons" },
          element("button", { "data-action": "kill", "data-instance": instance.id, text: "Kill" }),
          element("button", { "data-action": "stop", "data-instance": instance.id, text: "Stop" }),
          element("button", { "data-action": "start", "data-instance": instance.id, text: "Start" }),
        );
        return element(
          "div",
          { class: "lane", "data-instance": instance.id },
          element(
            "div",
            {},
            element("div", { class: "name", text: `${i + 1} · ${instance.id}` }),
            element("div", { class: "detail" }),
          ),
          element("div", { class: "chips" }),
          buttons,
        );
      }),
    );
    lanes.dataset.ids = ids.join();
  }
  snapshot.instances.forEach((instance, i) => {
    const lane = lanes.querySelector(`.lane[data-instance="${instance.id}"]`);
    lane.classList.toggle("down", instance.state !== "up");
    lane.classList.toggle("selected", i === state.selected);
    lane.dataset.state = instance.state;
    lane.querySelector(".detail").textContent =
      `${INSTANCE_SHAPES[instance.state]} · port ${instance.port}${instance.pid ? ` · pid ${instance.pid}` : ""} · served ${instance.served}`;
    lane.querySelector('[data-action="kill"]').disabled = instance.state !== "up";
    lane.querySelector('[data-action="stop"]').disabled = instance.state !== "up";
    lane.querySelector('[data-action="start"]').disabled = instance.state !== "down";
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
      while (chips.children.length > 16) chips.lastChild.remove();
      lane.classList.add("flash");
      setTimeout(() => lane.classList.remove("flash"), 180);
    }
  });
}

function renderTimeline(snapshot) {
  const canvas = $("#timeline");
  const context = canvas.getContext("2d");
  const lanes = [...snapshot.instances.map((instance) => instance.id), "none"];
  const left = 150;
  const width = canvas.width - left - 6;
  const rowHeight = (canvas.height - 22) / lanes.length;
  const x = (at) => left + ((at - (snapshot.t - WINDOW_MS)) / WINDOW_MS) * width;
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.font = "14px system-ui, sans-serif";
  context.textBaseline = "middle";
  lanes.forEach((lane, row) => {
    context.fillStyle = "#000";
    context.fillText(lane === "none" ? "no answer" : lane, 6, 20 + row * rowHeight + rowHeight / 2);
    context.strokeStyle = "#ccc";
    context.beginPath();
    context.moveTo(left, 20 + (row + 1) * rowHeight);
    context.lineTo(left + width, 20 + (row + 1) * rowHeight);
    context.stroke();
  });
  for (const entry of state.lit) {
    const row = lanes.indexOf(entry.lane);
    if (row < 0) continue;
    const y = 20 + row * rowHeight + rowHeight / 2;
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
  context.fillStyle = "#000";
  state.marks.forEach((mark, i) => {
    // Labels on two alternating lines, right of the mark (left of it near "now"), so that close marks stay readable.
    const at = x(mark.at);
    const label = `⚡ ${mark.label}`;
    const y = i % 2 === 0 ? 9 : 28;
    context.fillRect(at - 1, y + 6, 3, canvas.height - y - 6);
    const width = context.measureText(label).width;
    context.fillStyle = "rgba(255, 255, 255, 0.85)";
    const left = at + 4 + width > canvas.width ? at - 4 - width : at + 4;
    context.fillRect(left - 2, y - 8, width + 4, 16);
    context.fillStyle = "#000";
    context.fillText(label, left, y);
  });
  context.fillStyle = "#595959";
  context.fillText("60 s ago", left, canvas.height - 8);
  context.fillText("now", canvas.width - 36, canvas.height - 8);
}

function renderFigures(snapshot) {
  const figures = snapshot.figures;
  $("#figures").replaceChildren(
    ...FIGURES.map(([key, label]) =>
      element(
        "div",
        { class: `figure${figures[key] > 0 ? " bad" : ""}`, "data-figure": key },
        element("div", { class: "value", text: `${figures[key] > 0 ? "✖ " : ""}${figures[key]}` }),
        element("div", { class: "label", text: label }),
      ),
    ),
    element("div", {
      id: "totals",
      text: `${figures.ops} operations: ${figures.ok} ok, ${figures.errors} failed after retries`,
    }),
  );
}

function renderUsers(snapshot) {
  $("#users tbody").replaceChildren(
    ...snapshot.users.map((user) => {
      const alarm = ["broken", "state-lost", "write-lost", "revived"].includes(user.state);
      const counts = Object.entries({
        broken: user.counts.sessions_broken,
        lost: user.counts.session_state_lost,
        "writes lost": user.counts.writes_lost,
        revived: user.counts.revived,
      })
        .filter(([, value]) => value > 0)
        .map(([name, value]) => `${name} ${value}`)
        .join(", ");
      return element(
        "tr",
        { class: alarm ? "alarm" : "", "data-user": String(user.user), "data-state": user.state },
        element("td", { text: `user ${user.user}` }),
        element("td", {
          class: `state ${user.state}`,
          text: `${SHAPES[user.state]} ${WORDS[user.state]}${counts ? ` (${counts})` : ""}`,
        }),
        element("td", { text: user.session }),
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
          element("div", {
            text: `${{ primary: "★ primary", replica: "◇ replica", down: "✖ down", frozen: "❄ frozen", "no answer": "? no answer" }[node.role]} · ${node.keys ?? "?"} keys`,
          }),
        ),
        element("div", { class: "commands", text: node.commands.slice(-2).join("\n") || "no commands yet" }),
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
  const newest = [...state.narration].reverse().slice(0, 4);
  $("#narration").replaceChildren(
    ...newest.map((entry) =>
      element(
        "p",
        { class: `sentence ${entry.tone}` },
        element("span", { class: "when", text: `${(entry.at / 1000).toFixed(1)} s` }),
        entry.text,
      ),
    ),
  );
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

document.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (!button) return;
  if (button.id === "help-button") return toggleHelp();
  if (button.id === "pause") return act(state.snapshot?.paused ? "resume" : "pause");
  if (button.id === "balancer")
    return act("balancer", { strategy: state.snapshot?.lb === "sticky" ? "round-robin" : "sticky" });
  if (button.dataset.action)
    act(button.dataset.action, button.dataset.instance ? { instance: button.dataset.instance } : {});
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
  const instance = selectedInstance();
  const simple = {
    d: "rolling-deploy",
    r: "redis-restart",
    x: "redis-stop",
    y: "redis-start",
    f: "redis-freeze",
    c: "burst",
    0: "reset",
  };
  if (key === "k") act("kill", { instance });
  else if (key === "s") act("stop", { instance });
  else if (key === "t") act("start", { instance });
  else if (key === " ") act(snapshot.paused ? "resume" : "pause");
  else if (key === "b") act("balancer", { strategy: snapshot.lb === "sticky" ? "round-robin" : "sticky" });
  else if (key === "n")
    act("design", {
      design: snapshot.designs[(snapshot.designs.indexOf(snapshot.design) + 1) % snapshot.designs.length],
    });
  else if (simple[key]) act(simple[key]);
  else return;
  event.preventDefault();
});

connect();
