/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock shared
 * @machine-heavy
 */
// The live view fits the screen it is made for (docs/instructor-guide.md, "The 10-minute demo"):
// in a real Chromium at 1280x720 and at 1920x1080, after a kill, a Redis restart, a burst and a
// rolling deploy, nothing is past the window or cut off, the page does not scroll, the timeline's
// labels do not overlap, the totals add up and the console has no error; after a design switch
// nothing of the design before is left. Screenshots of each check are kept in
// .lab/test-output/dashboard-layout/ (git-ignored) to look at.

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Browser, chromium, Page } from "playwright-core";
import { REPO_ROOT } from "../processes/run-dir";
import {
  act,
  Dashboard,
  findChromium,
  interrupt,
  startDashboard,
  stopDashboards,
  waitUntil,
} from "../../test-support/dashboard-process";
import { killSurvivors } from "../../test-support/pid-log";

const scratch = mkdtempSync(path.join(os.tmpdir(), "dashboard-layout-"));
const SCREENSHOTS = path.join(REPO_ROOT, ".lab", "test-output", "dashboard-layout");
const CHROMIUM = findChromium();
const inBrowser = CHROMIUM ? describe : describe.skip;
if (!CHROMIUM)
  console.warn("dashboard-layout: skipped: no Chromium installed (npm run setup -- --browser installs it)");

const SCREENS = [
  { width: 1280, height: 720 },
  { width: 1920, height: 1080 },
];

let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await stopDashboards(scratch);
  rmSync(scratch, { recursive: true, force: true });
}, 30_000);

/**
 * What is wrong with the page's layout now, in words: elements past the window, text cut off
 * (a cell, chip, pill, button or sentence partly hidden, or wider than its box), a scroll bar,
 * overlapping timeline labels. Runs in the page.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- it runs in the page, whose DOM types are not this program's */
function layoutProblems(): string[] {
  const { document, getComputedStyle, innerWidth, innerHeight } = globalThis as any;
  const problems: string[] = [];
  const name = (node: any) =>
    `${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ""}${[...node.classList].map((c) => `.${c}`).join("")} "${(node.textContent ?? "").trim().slice(0, 40)}"`;
  /** The part of an element its ancestors let show (those that hide their overflow cut it). */
  const shown = (node: any) => {
    const own = node.getBoundingClientRect();
    let [left, top, right, bottom] = [own.left, own.top, own.right, own.bottom];
    // The root's overflow is the window's, checked apart: its own box is the unscaled page.
    for (let up = node.parentElement; up && up !== document.documentElement; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      const box = up.getBoundingClientRect();
      [left, top, right, bottom] = [
        Math.max(left, box.left),
        Math.max(top, box.top),
        Math.min(right, box.right),
        Math.min(bottom, box.bottom),
      ];
    }
    return { own, left, top, right, bottom, empty: right - left < 1 || bottom - top < 1 };
  };
  const visible = (node: any) => {
    const style = getComputedStyle(node);
    return style.display !== "none" && style.visibility !== "hidden" && node.getClientRects().length > 0;
  };
  for (const node of document.body.querySelectorAll("*")) {
    if (!visible(node) || node.closest("#help, #toast, [hidden]")) continue;
    const part = shown(node);
    if (part.empty) continue; // wholly hidden on purpose: the chips past a lane's first line
    if (part.right > innerWidth + 0.5 || part.bottom > innerHeight + 0.5 || part.left < -0.5 || part.top < -0.5)
      problems.push(`past the window: ${name(node)}`);
  }
  const text =
    "td, th, .chip, .box, .figure, .lane .name, .lane .detail, .pill, button, .sentence, .mark-label, #totals";
  for (const node of document.querySelectorAll(text)) {
    if (!visible(node) || node.closest("#help, [hidden]")) continue;
    const part = shown(node);
    if (part.empty && !node.classList.contains("chip")) problems.push(`hidden: ${name(node)}`);
    else if (
      !part.empty &&
      (part.right - part.left < part.own.width - 1 || part.bottom - part.top < part.own.height - 1)
    )
      problems.push(`partly hidden: ${name(node)}`);
    if (node.scrollWidth > node.clientWidth + 1 || node.scrollHeight > node.clientHeight + 1)
      problems.push(`wider or taller than its box: ${name(node)}`);
  }
  const page = document.scrollingElement;
  if (page.scrollHeight > innerHeight || page.scrollWidth > innerWidth)
    problems.push(`the page scrolls: ${page.scrollWidth}x${page.scrollHeight} in ${innerWidth}x${innerHeight}`);
  const labels = [...document.querySelectorAll(".mark-label")].map((label: any) => label.getBoundingClientRect());
  labels.forEach((a, i) =>
    labels.slice(i + 1).forEach((b) => {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
        problems.push(`timeline labels overlap at x=${Math.round(a.left)} and x=${Math.round(b.left)}`);
    }),
  );
  return problems;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** "N operations: a ok, b refused (401), c failed after retries", as numbers. */
async function totals(page: Page): Promise<number[]> {
  const text = (await page.locator("#totals").textContent()) ?? "";
  const numbers = /^(\d+) operations: (\d+) ok, (\d+) refused \(401\), (\d+) failed after retries$/.exec(text);
  if (!numbers) throw new Error(`the totals read "${text}"`);
  return numbers.slice(1).map(Number);
}

inBrowser("the live view on a projector", () => {
  let dashboard: Dashboard;
  const pages: Array<{ page: Page; errors: string[]; label: string }> = [];

  /** Every page's layout, checked and photographed under `step`. */
  async function checkLayout(step: string): Promise<void> {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const { page, label } of pages) {
      await page.screenshot({ path: path.join(SCREENSHOTS, `${step}-${label}.png`) });
      expect({ screen: label, step, problems: await page.evaluate(layoutProblems) }).toEqual({
        screen: label,
        step,
        problems: [],
      });
    }
  }

  it("after a kill, a Redis restart, a burst and during a rolling deploy, nothing is cut off, past the window or scrolled, at 1280x720 and 1920x1080, and the totals add up", async () => {
    dashboard = await startDashboard(scratch, ["--design", "memory-session"], "layout");
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    for (const screen of SCREENS) {
      const page = await browser.newPage({ viewport: screen });
      const errors: string[] = [];
      page.on("console", (message) => void (message.type() === "error" && errors.push(message.text())));
      page.on("pageerror", (error) => void errors.push(error.message));
      await page.goto(dashboard.url);
      pages.push({ page, errors, label: `${screen.width}x${screen.height}` });
    }
    const [{ page }] = pages;
    const working = () => page.locator('#users tbody tr[data-state="working"]').count();
    expect(await waitUntil(async () => (await working()) === 4, 10_000)).toBe(true);

    expect(await act(dashboard, "kill", { instance: "memory-session-1" })).toBe(202);
    expect(await waitUntil(async () => (await page.locator(".mark-label").count()) >= 1, 5000)).toBe(true);
    expect(await act(dashboard, "redis-restart")).toBe(202);
    expect(await act(dashboard, "burst")).toBe(202);
    expect(await waitUntil(async () => (await page.locator("#burst .box").count()) === 10, 10_000)).toBe(true);
    expect(await act(dashboard, "start", { instance: "memory-session-1" })).toBe(202);
    await page.waitForTimeout(2000); // the users log in again, some sentences pile up
    await checkLayout("faults");

    expect(await act(dashboard, "rolling-deploy")).toBe(202);
    expect(await waitUntil(async () => ((await page.locator("#busy").textContent()) ?? "") !== "", 5000)).toBe(true);
    await checkLayout("busy");
    expect(await waitUntil(async () => ((await page.locator("#busy").textContent()) ?? "") === "", 30_000)).toBe(true);
    await page.waitForTimeout(1000);
    await checkLayout("after-faults");
    // At least three marks, and no label over another (the check above).
    expect(await page.evaluate("state.marks.length")).toBeGreaterThanOrEqual(5);

    const [ops, ok, refused, failed] = await totals(page);
    expect(refused).toBeGreaterThan(0); // the killed instance's sessions, and Redis's restart
    expect(ok + refused + failed).toBe(ops);
  }, 120_000);

  it("after a design switch, nothing of the design before is left: lanes, chips, timeline, marks, users, burst, sentences", async () => {
    const [{ page }] = pages;
    expect(await act(dashboard, "design", { design: "redis-session" })).toBe(202);
    expect(
      await waitUntil(async () => (await page.locator('#users tbody tr[data-state="working"]').count()) === 4, 30_000),
    ).toBe(true);
    await page.waitForTimeout(1500);
    for (const { page: each, label } of pages) {
      // The texts of every part, and the page's own memory of lanes and marks (its script's top-level state).
      const left = (await each.evaluate(`(() => {
        const texts = ["#lanes", "#timeline-labels", "#users", "#narration", "#burst", "#nodes"].map(
          (selector) => document.querySelector(selector)?.textContent ?? "",
        );
        const memory = JSON.stringify({ lit: state.lit.map((e) => e.lane), marks: state.marks.map((m) => m.label) });
        return [...texts, memory].filter((text) => /memory-session/.test(text));
      })()`)) as string[];
      expect({ screen: label, left }).toEqual({ screen: label, left: [] });
      expect(await each.locator("#burst .box").count()).toBe(0);
    }
    await checkLayout("after-switch");
    const [ops, ok, refused, failed] = await totals(page);
    expect(ok + refused + failed).toBe(ops);
  }, 60_000);

  it("serves its own icon: no error in the console of either page", async () => {
    const icon = await fetch(`${dashboard.url}favicon.ico`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/svg+xml");
    for (const { errors, label } of pages) expect({ screen: label, errors }).toEqual({ screen: label, errors: [] });
    expect(await interrupt(dashboard)).toBe(130);
    expect(killSurvivors(dashboard.pidLog)).toEqual([]);
  }, 30_000);
});
