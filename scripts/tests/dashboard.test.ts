/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock shared
 * @machine-heavy
 */
// The live classroom view (npm run dashboard; docs/instructor-guide.md, "The 10-minute demo"), run as an instructor runs
// it: the compiled program as a real process, its cluster real processes, and the page in a
// real Chromium driven by playwright-core (no browser download: the Chromium that
// `npm run setup -- --browser` installs). Without a Chromium the browser tests say so in one
// line and are skipped; the HTTP tests run everywhere. Two screenshots land in
// reports/screenshots/ for docs/instructor-guide.md. The live checker's own rules are tested in
// live-check.test.ts, without a browser.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Browser, chromium, Page } from "playwright-core";
import { isAlive, sleep } from "../processes/managed-process";
import { REPO_ROOT } from "../processes/run-dir";
import { ACTIONS } from "../dashboard/actions";
import { killSurvivors, loggedProcesses } from "../../test-support/pid-log";
import {
  Dashboard,
  findChromium,
  interrupt,
  startDashboard as startWith,
  stopDashboards,
  waitUntil,
} from "../../test-support/dashboard-process";

const scratch = mkdtempSync(path.join(os.tmpdir(), "dashboard-"));
const SCREENSHOTS = path.join(REPO_ROOT, "reports", "screenshots");
const CHROMIUM = findChromium();
const inBrowser = CHROMIUM ? describe : describe.skip;
if (!CHROMIUM)
  console.warn(
    "dashboard: the browser tests are skipped: no Chromium installed (npm run setup -- --browser installs it)",
  );
const startDashboard = (args: string[], name: string, wrap = false) => startWith(scratch, args, name, wrap);

function post(dashboard: Dashboard, action: string, headers: Record<string, string>, body = "{}") {
  return fetch(`${dashboard.url}actions/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body,
  }).then(async (response) => ({
    status: response.status,
    type: response.headers.get("content-type"),
    body: (await response.json()) as Record<string, unknown>,
  }));
}

let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await stopDashboards(scratch); // a test that failed halfway
  rmSync(scratch, { recursive: true, force: true });
}, 30_000);

async function openPage(dashboard: Dashboard, requests: string[] = []): Promise<Page> {
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on("request", (request) => void requests.push(request.url()));
  await page.goto(dashboard.url);
  return page;
}

/** When the burst on the page was fired ("" before the first). */
const burstAt = (page: Page) => page.evaluate('document.querySelector("#burst")?.dataset.at ?? ""') as Promise<string>;
/** Fires a burst (`fire`: the key or the button) and waits until the page draws its outcome. */
async function burstDrawn(page: Page, fire: () => Promise<void>): Promise<boolean> {
  const before = await burstAt(page);
  await fire();
  return waitUntil(async () => (await burstAt(page)) !== before, 5000);
}
/** The text of an element now, or "" when there is none (a locator would wait for it). */
const textOf = (page: Page, selector: string) =>
  page
    .locator(selector)
    .allTextContents()
    .then((texts) => texts.join(""));
const usersWorking = (page: Page) => page.locator('#users tbody tr[data-state="working"]').count();
const figure = async (page: Page, name: string) =>
  Number(((await page.locator(`[data-figure="${name}"] .value`).textContent()) ?? "").replace(/\D/g, ""));

/** Starts the dashboard with `args` and opens its page; fails unless its four users are working within `withinMs`. */
async function openWorking(
  args: string[],
  name: string,
  withinMs = 5000,
): Promise<{ dashboard: Dashboard; page: Page }> {
  const dashboard = await startDashboard(args, name);
  const page = await openPage(dashboard);
  expect(await waitUntil(async () => (await usersWorking(page)) === 4, withinMs)).toBe(true);
  return { dashboard, page };
}

/** Ctrl-C: the dashboard exits 130 and leaves no process it started behind. */
async function stopCleanly(dashboard: Dashboard): Promise<void> {
  expect(await interrupt(dashboard)).toBe(130);
  expect(killSurvivors(dashboard.pidLog)).toEqual([]);
}

describe("the dashboard's controls, over HTTP", () => {
  let dashboard: Dashboard;
  beforeAll(async () => {
    dashboard = await startDashboard(["--design", "redis-session"], "http");
  }, 60_000);
  afterAll(async () => {
    if (dashboard) await interrupt(dashboard);
  });

  it("refuses a control without the token, with a wrong one, or from another site's page: 403 JSON, and nothing changes", async () => {
    const refused = [
      await post(dashboard, "kill", {}, JSON.stringify({ instance: "redis-session-1" })),
      await post(
        dashboard,
        "kill",
        { "X-Dashboard-Token": "0".repeat(48) },
        JSON.stringify({ instance: "redis-session-1" }),
      ),
      await post(
        dashboard,
        "kill",
        { "X-Dashboard-Token": dashboard.token, Origin: "http://evil.example" },
        JSON.stringify({ instance: "redis-session-1" }),
      ),
      await post(dashboard, "reset", { "X-Dashboard-Token": dashboard.token, Origin: "http://127.0.0.1:1" }),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(403);
      expect(answer.type).toMatch(/^application\/json/);
      expect(answer.body.error).toBe("forbidden");
    }
    await sleep(500);
    const health = await fetch(
      `${dashboard.output().match(/redis-session-1 +(http:\/\/127\.0\.0\.1:\d+)/)?.[1]}/health`,
    );
    expect(health.status).toBe(200); // still running: the refused kill did nothing
  });

  it("answers an unknown action 404, a bad body 400, an unknown instance 400, a GET on a control 405, and another Host 403, all in JSON", async () => {
    const auth = { "X-Dashboard-Token": dashboard.token };
    expect(await post(dashboard, "explode", auth)).toMatchObject({ status: 404, body: { error: "unknown_action" } });
    expect(await post(dashboard, "kill", auth, "{not json")).toMatchObject({
      status: 400,
      body: { error: "invalid_body" },
    });
    expect(await post(dashboard, "kill", auth, "[1,2]")).toMatchObject({
      status: 400,
      body: { error: "invalid_body" },
    });
    expect(await post(dashboard, "kill", auth, JSON.stringify({ instance: "nobody-9" }))).toMatchObject({
      status: 400,
      body: { error: "unknown_instance" },
    });
    expect(await post(dashboard, "design", auth, JSON.stringify({ design: "mainframe" }))).toMatchObject({
      status: 400,
      body: { error: "unknown_design" },
    });
    expect(await post(dashboard, "kill", auth, JSON.stringify({ instance: "x".repeat(5000) }))).toMatchObject({
      status: 400,
      body: { error: "invalid_body" },
    });
    const get = await fetch(`${dashboard.url}actions/kill`);
    expect(get.status).toBe(405);
    const port = new URL(dashboard.url).port;
    const rebound = await new Promise<number>((resolve, reject) => {
      // fetch will not send a Host of our choosing: a raw request as a DNS-rebinding page's would arrive.
      const socket = net.connect(Number(port), "127.0.0.1", () =>
        socket.write(`GET / HTTP/1.1\r\nHost: attacker.example:${port}\r\nConnection: close\r\n\r\n`),
      );
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk));
      socket.on("end", () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1])));
      socket.on("error", reject);
    });
    expect(rebound).toBe(403);
  });

  it("stops everything it started on Ctrl-C", async () => {
    await stopCleanly(dashboard);
    expect(dashboard.output()).toContain("dashboard: stopped");
  }, 30_000);
});

inBrowser("the dashboard in Chromium", () => {
  it("memory-session: the page loads from its own origin only, 3 live instances, rows within 5 s; killing the instance that holds user 0's session breaks it, said in one sentence, within 3 s", async () => {
    const dashboard = await startDashboard(["--design", "memory-session"], "memory");
    const requests: string[] = [];
    const page = await openPage(dashboard, requests);
    expect(await waitUntil(async () => (await usersWorking(page)) === 4, 5000)).toBe(true);
    expect(await page.locator('.lane[data-state="up"]').count()).toBe(3);
    expect(requests.length).toBeGreaterThanOrEqual(3); // the page, its style sheet and script, the stream
    expect(requests.filter((url) => !url.startsWith(dashboard.url))).toEqual([]);

    // sticky: user 0 always reaches the instance that made its session, until that one dies.
    const home = ((await page.locator('#users tr[data-user="0"] td.session').textContent()) ?? "").trim();
    expect(home).toMatch(/^memory-session-[123]$/);
    const clicked = Date.now();
    await page.locator(`.lane[data-instance="${home}"] [data-action="kill"]`).click();
    const sentence = `User 0's session lived in ${home}'s memory; ${home} was killed: 401 session_not_found.`;
    expect(await waitUntil(async () => (await textOf(page, "#narration")).includes(sentence), 3000)).toBe(true);
    const shown = Date.now() - clicked;
    expect(await page.locator('#users tr[data-user="0"]').getAttribute("data-state")).toBe("broken");
    expect(await figure(page, "sessions_broken")).toBeGreaterThanOrEqual(1);
    expect(await page.locator(`.lane[data-instance="${home}"]`).getAttribute("data-state")).toBe("down");
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard-memory-session-kill.png") });
    console.log(`dashboard: from the click on kill to the broken session on the page: ${shown} ms`);

    // The stream goes silent (the dashboard frozen for 4 s): the page says so, then reconnects by itself.
    const sentences = await page.locator(".sentence").count();
    process.kill(dashboard.child.pid as number, "SIGSTOP");
    const lost = await waitUntil(
      async () => (await textOf(page, "#stream")).includes("stream lost: reconnecting"),
      6000,
    );
    process.kill(dashboard.child.pid as number, "SIGCONT");
    expect(lost).toBe(true);
    expect(await waitUntil(async () => (await textOf(page, "#stream")).includes("live"), 6000)).toBe(true);
    const texts = await page.locator(".sentence").allTextContents();
    expect(new Set(texts).size).toBe(texts.length); // the reconnection's replay replaced, it did not add twice
    expect(texts.length).toBeGreaterThanOrEqual(Math.min(sentences, 4));

    await page.close(); // a closed page must not slow or stop anything
    await sleep(300);
    await stopCleanly(dashboard);
  }, 90_000);

  it("redis-session: the same kill breaks no session; a concurrent burst shows uploads the session view lost", async () => {
    const { dashboard, page } = await openWorking(["--design", "redis-session"], "redis");
    await page.locator('.lane[data-instance="redis-session-2"] [data-action="kill"]').click();
    expect(
      await waitUntil(
        async () =>
          (await page.locator('.lane[data-instance="redis-session-2"]').getAttribute("data-state")) === "down",
        3000,
      ),
    ).toBe(true);
    await sleep(3000); // every user has made several requests since
    expect(await figure(page, "sessions_broken")).toBe(0);
    expect(await page.locator('#users tr[data-state="broken"]').count()).toBe(0);

    // The race loses an upload nearly every time; three bursts at most, with the key this time.
    let lost = 0;
    for (let burst = 1; burst <= 3 && lost === 0; burst += 1) {
      expect(await burstDrawn(page, () => page.keyboard.press("c"))).toBe(true);
      lost = await page.locator('#burst .box[data-kept="false"]').count();
    }
    expect(lost).toBeGreaterThan(0);
    expect(await textOf(page, "#burst-sentence")).toMatch(
      /the session view lists only \d+: .* the later saves overwrote \d+\.$/,
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard-redis-session-burst.png") });
    await stopCleanly(dashboard);
  }, 90_000);

  it("redis-session on replicated Redis: Freeze (F) leads within 25 s to a sentence that a replica was promoted, and none about the save race; the controls, keys and help come from one table", async () => {
    const { dashboard, page } = await openWorking(
      ["--design", "redis-session", "--store", "sentinel"],
      "sentinel",
      10_000,
    );

    // One table (scripts/dashboard/actions.ts): a button where its place says, with its key, and a help row each.
    for (const action of ACTIONS.filter((each) => each.place !== "none")) {
      const where =
        action.place === "lane"
          ? '.lane[data-instance="redis-session-1"]'
          : action.place === "bar"
            ? "#controls"
            : "#header-controls";
      if (action.needs === "design") continue; // the design is the list at the top
      expect(await page.locator(`${where} [data-action="${action.name}"]`).count()).toBe(1);
      expect(await textOf(page, "#help-actions")).toContain(`${action.label}: ${action.sentence}`);
    }
    await page.keyboard.press(" ");
    expect(
      await waitUntil(async () => (await textOf(page, '#controls [data-action="pause"]')).startsWith("Resume"), 3000),
    ).toBe(true);
    await page.keyboard.press(" ");
    expect(
      await waitUntil(async () => (await textOf(page, '#controls [data-action="pause"]')).startsWith("Pause"), 3000),
    ).toBe(true);

    await page.keyboard.press("f");
    const promoted = await waitUntil(
      async () => /The Sentinels promoted redis-\d in place of redis-\d/.test(await textOf(page, "#narration")),
      25_000,
    );
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard-sentinel-freeze.png") });
    expect(promoted).toBe(true);
    // Long enough for the old primary's demotion and the lost uploads' sentences (about 10 s after SIGCONT).
    await sleep(12_000);
    const narration = await textOf(page, "#narration");
    expect(narration).not.toContain("saved the whole session");
    await page.screenshot({ path: path.join(SCREENSHOTS, "dashboard-sentinel-freeze-after.png") });
    await stopCleanly(dashboard);
  }, 120_000);

  it("atomic-session: the burst loses no upload", async () => {
    const { dashboard, page } = await openWorking(["--design", "atomic-session"], "atomic");
    for (let burst = 1; burst <= 2; burst += 1) {
      expect(await burstDrawn(page, () => page.locator('[data-action="burst"]').click())).toBe(true);
      expect(await page.locator('#burst .box[data-kept="false"]').count()).toBe(0);
      expect(await page.locator('#burst .box[data-kept="true"]').count()).toBe(10);
    }
    expect(await figure(page, "session_state_lost")).toBe(0);
    await stopCleanly(dashboard);
  }, 90_000);
});

describe("the dashboard without its parent", () => {
  it("stops everything it started when the process that ran it dies", async () => {
    const dashboard = await startDashboard(["--design", "stateful"], "orphan", true);
    expect(isAlive(dashboard.pid)).toBe(true);
    dashboard.child.kill("SIGKILL"); // the shell that started it: the dashboard is adopted by another process
    expect(await waitUntil(() => !isAlive(dashboard.pid), 15_000)).toBe(true);
    const logged = () => loggedProcesses(dashboard.pidLog).map((each) => each.pid);
    expect(logged().length).toBeGreaterThanOrEqual(3); // its three instances (stateful has no Redis)
    expect(await waitUntil(() => logged().every((pid) => !isAlive(pid)), 5000)).toBe(true);
    expect(killSurvivors(dashboard.pidLog)).toEqual([]);
  }, 60_000);
});
