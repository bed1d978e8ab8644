// `npm run demo:failover -- [--design D] [--safe all|detector|wait|min-replicas] [--pause]`: the
// instructor's replication demo, on a primary, two replicas and three Sentinels, with the
// Sentinels' own timeline of each fault. A session survives a SIGKILL of the primary; a frozen
// primary acknowledges a session write (the session's record of an upload) and loses it, while
// the file stays in PostgreSQL; the same freeze with the safe settings (or one alone) loses
// nothing; then what they cost. What to say: docs/instructor-guide.md, "A 5-minute failover demo".

import { parseOrExit, readArgs, readDesign, refuseNativeWindows, UsageError } from "../cli";
import { Design, isPhase1 } from "../designs";
import { sleep, stopEverything } from "../processes/managed-process";
import { RedisServer } from "../processes/redis";
import { ask, DOWN_AFTER_MS, ReplicatedRedis, SentinelEvent, watchSentinelEvents } from "../processes/replicated-redis";
import { SAFE_SETTINGS, SafeSetting } from "../processes/server-env";
import { ServerInstance } from "../processes/server-instance";
import { Stack, startStack, stopOnSignals } from "../processes/stack";
import { Fault, FaultContext, FREEZE_MS, freezePrimary, killPrimary } from "../workbench/nemesis";
import { Answer, DemoUser } from "./demo-user";
import {
  afterRetries,
  describeSession,
  ok,
  onNode,
  pauseLesson,
  pauseVerdict,
  readBack,
  sessionInRedis,
} from "./freeze-readback";
import { bold, describe, Narration } from "./narration";
import { compareTimings, describeSpread, describeVerdict } from "./noise";
import { failoverPhases, phasesLines, sentinelTimeline, timelineLines } from "./sentinel-timeline";

const USAGE = `usage: npm run demo:failover -- [--design D] [--safe all|detector|wait|min-replicas] [--pause]
  D: a phase-2 design (default redis-session); --safe: the safe settings of step 5, all three (the default) or one alone`;
/** Uploads timed on each side in the cost step: enough for a median and an interval that a busy machine cannot fake. */
const COST_SAMPLES = 300;

/** Each safe setting as a student would set it. */
const SETTING_NAMES: Record<SafeSetting, string> = {
  detector: "REDIS_FAILOVER_DETECTOR=true",
  wait: "REDIS_WAIT_REPLICAS=1",
  "min-replicas": "min-replicas-to-write 1",
};

const node = (server: RedisServer | undefined) => (server ? `127.0.0.1:${server.port}` : "none");
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Asks "who am I?" every 100 ms until the answer is 2xx; when that was, and the answer. */
async function untilServed(user: DemoUser, url: string, timeoutMs = 30_000): Promise<{ at: number; answer: Answer }> {
  const started = Date.now();
  for (;;) {
    const answer = await user.whoAmI(url);
    if (ok(answer) || Date.now() - started > timeoutMs) return { at: Date.now(), answer };
    await sleep(100);
  }
}

/** Waits until `old` reports that it is a replica again (a Sentinel noticed it); how long after `since` that was. */
async function untilDemoted(old: RedisServer, since: number, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const role = (await ask(old.port, "ROLE").catch(() => null)) as unknown[] | null;
    if (role?.[0] === "slave") return Date.now() - since;
    await sleep(200);
  }
  throw new Error(`the old primary was not demoted within ${timeoutMs / 1000} s`);
}

/** Waits (at most `timeoutMs`) until some Sentinel has announced `type` since `since`. */
async function untilAnnounced(events: SentinelEvent[], type: string, since: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!events.some((event) => event.type === type && event.at >= since) && Date.now() < deadline) await sleep(50);
}

/** Prints the Sentinels' announcements about the primary that `fault` struck, and the phases of its failover. */
function printTimeline(events: SentinelEvent[], fault: Fault, what: string): void {
  const steps = sentinelTimeline(events, fault.began_ms, `127.0.0.1:${fault.target.port}`);
  console.log(
    `   the Sentinels' announcements, ms since the ${what} (the first Sentinel to announce each, then the others):`,
  );
  for (const line of timelineLines(steps)) console.log(`   ${line}`);
  const phases = failoverPhases(steps);
  if (phases) for (const line of phasesLines(phases, DOWN_AFTER_MS)) console.log(`   ${line}`);
}

/** A stack on replicated Redis, the Sentinels' announcements collected from the start, and a user logged in. */
async function startWatched(design: Design, safe: readonly SafeSetting[] | undefined, name: string) {
  const stack = await startStack({
    design,
    instances: 1,
    store: safe ? "sentinel-safe" : "sentinel",
    safe,
    graceful: true,
    classroom: true,
  });
  const replicated = stack.replicated as ReplicatedRedis;
  const events: SentinelEvent[] = [];
  const unwatch = await watchSentinelEvents(replicated, (event) => events.push(event));
  const user = new DemoUser(design, `${name}${process.pid % 100000}`);
  /** Instances started later, to read where the store is now: stopped before the stack. */
  const readers: ServerInstance[] = [];
  return { stack, replicated, events, unwatch, user, url: stack.instances[0].url, readers };
}
type Watched = Awaited<ReturnType<typeof startWatched>>;

/** The nemesis's freeze-primary (5 s), an upload as soon as the primary is back, who acknowledged it, and the session then. */
async function freezeAndUpload(run: Watched, design: Design, filename: string) {
  let during: Promise<Answer> | undefined;
  let struck: Fault | undefined;
  const context: FaultContext = {
    design,
    clock: () => Date.now(),
    onStrike: (fault) => {
      struck = fault;
      during = sleep(200).then(() => run.user.whoAmI(run.url));
    },
  };
  let fault: Fault;
  try {
    fault = await freezePrimary({ replicated: run.replicated }, run.stack.instances, context);
  } catch (error) {
    // On a busy machine the Sentinels' vote can split (each tries again only after twice the
    // failover-timeout, 8 s), and a primary back after 5 s is then never replaced: say so, show
    // their timeline, and freeze once more.
    const stillPrimary = await run.replicated.agreedPrimary();
    if (!struck || stillPrimary?.port !== struck.target.port) throw error;
    console.log(`   the Sentinels promoted no replica during the freeze; what they announced:`);
    printTimeline(run.events, struck, "SIGSTOP");
    console.log("   (a busy machine: no Sentinel won the vote in time) the same freeze once more");
    fault = await freezePrimary({ replicated: run.replicated }, run.stack.instances, context);
  }
  const old = run.replicated.nodes.find((candidate) => candidate.port === fault.target.port) as RedisServer;
  console.log(`   SIGSTOP the primary ${node(old)}: it stalls, its connections stay open`);
  if (during) console.log(`   a request during the freeze: ${describe(await during)}`);
  console.log(
    `   SIGCONT after ${seconds(FREEZE_MS)}; meanwhile the Sentinels promoted 127.0.0.1:${fault.promoted?.port}`,
  );
  const upload = await run.user.request(run.url, "POST", "/api/upload", {
    filename,
    content: "written just after the freeze",
  });
  const on = onNode(upload, fault);
  const outcome = !ok(upload)
    ? on && `, refused: the server was on ${on}`
    : !on || sessionInRedis(design)
      ? on && `, acknowledged by ${on}`
      : `; the server was on ${on}, but an upload writes nothing of ${design}'s to Redis`;
  const fileId = ok(upload) ? String(upload.body.file_id) : undefined;
  console.log(`   upload ${filename}: ${describe(upload)}${fileId ? ` (file ${fileId})` : ""}${outcome}`);
  if (fileId && sessionInRedis(design)) {
    // At once, through the same connection: the session lists the upload, on the node that acknowledged it.
    const view = await run.user.whoAmI(run.url);
    console.log(`   the session, right after: ${describeSession(view, fault, fileId, filename)}`);
  }
  return { old, upload, fault, fileId };
}

/**
 * Times uploads on both stacks in turn, `COST_SAMPLES` each: one without, one with, the order
 * swapped every pair, so that a slow moment of the machine falls on both sides alike.
 */
async function timeInTurn(
  plain: Watched,
  safe: Watched,
): Promise<{ without: number[]; with: number[]; failed: number }> {
  const timings = { without: [] as number[], with: [] as number[], failed: 0 };
  const timeOne = async (run: Watched, into: number[], i: number) => {
    const started = performance.now();
    const answer = await run.user.request(run.url, "POST", "/api/upload", {
      filename: `cost-${i}.txt`,
      content: "timing",
    });
    if (ok(answer)) into.push(performance.now() - started);
    else timings.failed += 1;
  };
  for (let i = 0; i < COST_SAMPLES; i += 1) {
    const pair: Array<[Watched, number[]]> = [
      [plain, timings.without],
      [safe, timings.with],
    ];
    for (const [run, into] of i % 2 ? pair.reverse() : pair) await timeOne(run, into, i);
  }
  return timings;
}

async function main(): Promise<void> {
  const { design, pause, safe } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design", "safe"], ["pause"]);
    const chosen = readDesign(values.design ?? "redis-session", true);
    if (isPhase1(chosen)) throw new UsageError(`--design must be a phase-2 design: ${chosen} keeps nothing in Redis`);
    const named = values.safe === undefined || values.safe === "all" ? [...SAFE_SETTINGS] : values.safe.split(",");
    const unknown = named.filter((setting) => !(SAFE_SETTINGS as readonly string[]).includes(setting));
    if (unknown.length || named.length === 0)
      throw new UsageError(`--safe must be all, or one or more of ${SAFE_SETTINGS.join(", ")} (got ${values.safe})`);
    return { design: chosen, pause: values.pause ?? false, safe: named as SafeSetting[] };
  });
  refuseNativeWindows("demo:failover");
  const all = safe.length === SAFE_SETTINGS.length;
  const withSafe = all
    ? "with the safe settings"
    : `with ${safe.map((each) => SETTING_NAMES[each]).join(" and ")} alone`;
  const runs: Watched[] = [];
  const stopAll = async () => {
    for (const run of runs) {
      await run.unwatch();
      for (const reader of run.readers.splice(0)) await reader.end();
      await run.stack.stop();
    }
  };
  stopOnSignals(
    (): Stack | undefined => (runs.length ? { ...runs[0].stack, stop: stopAll } : undefined),
    (line) => console.log(line),
  );
  const talk = new Narration(pause);

  await talk.next(
    `Start replicated Redis and one ${design} server`,
    "A primary, two replicas that copy it, and three Sentinels that watch it. The server asks the Sentinels which node is the primary.",
  );
  const plain = await startWatched(design, undefined, "fail");
  runs.push(plain);
  const { replicated, user, url } = plain;
  console.log(
    `   primary ${node(await replicated.agreedPrimary())}, replicas ${replicated.nodes.slice(1).map(node).join(" and ")}, Sentinels ${replicated.sentinelList}`,
  );
  console.log(`   register: ${describe(await user.register(url))}`);
  console.log(`   log in:   ${describe(await user.logIn(url))}`);
  const first = await user.request(url, "POST", "/api/upload", { filename: "before-the-crash.txt", content: "kept?" });
  console.log(`   upload:   ${describe(first)} (file ${String(first.body.file_id)})`);

  await talk.next(
    "Crash the primary (SIGKILL)",
    "The Sentinels wait 1 s of silence, agree, and promote a replica. Does the session survive?",
  );
  let struck = 0;
  const crashing = killPrimary(replicated, plain.stack.instances, {
    design,
    clock: () => Date.now(),
    onStrike: () => (struck = Date.now()),
  });
  while (!struck) await sleep(5);
  await sleep(50); // the SIGKILL has landed: from here on, "who am I?" every 100 ms
  const { at: servedAt, answer: after } = await untilServed(user, url);
  const crash = await crashing;
  console.log(
    `   ${node(replicated.nodes.find((each) => each.port === crash.target.port))} is gone; the server answered again after ${seconds(servedAt - crash.began_ms)}, from the primary 127.0.0.1:${crash.promoted?.port}`,
  );
  console.log(`   who am I: ${describe(after)}`);
  const kept = await user.request(url, "GET", `/api/files/${String(first.body.file_id)}`);
  console.log(`   the upload, in PostgreSQL: ${describe(kept)}`);
  await untilAnnounced(plain.events, "+failover-end", crash.began_ms);
  printTimeline(plain.events, crash, "SIGKILL");
  console.log(
    bold(`   A crash: writes stopped for ${seconds(servedAt - crash.began_ms)}, and nothing acknowledged was lost.`),
  );

  await talk.next(
    "Now a pause: freeze the primary for 5 s (SIGSTOP)",
    "A stalled process, or a network pause. The Sentinels promote the last replica meanwhile. What does the old primary do when it wakes up?",
  );
  const freezing = await freezeAndUpload(plain, design, "after-the-freeze.txt");
  const { old, fault: freeze, fileId } = freezing;

  await talk.next(
    "Wait for a Sentinel to notice the old primary",
    "It is demoted only when a Sentinel's periodic check sees it (every 10 s). Then it copies the new primary, and drops what only it had. The file is in PostgreSQL: what of the session is left?",
  );
  const demotedAt = await untilDemoted(old, freeze.began_ms);
  console.log(`   ${node(old)} became a replica ${seconds(demotedAt - FREEZE_MS)} after SIGCONT`);
  const frozenLoss = fileId ? await readBack(plain, design, freeze, fileId, "after-the-freeze.txt") : undefined;
  printTimeline(plain.events, freeze, "SIGSTOP");
  console.log(bold(`   A pause: ${pauseLesson(design, freezing.upload, frozenLoss)}`));

  await talk.next(
    `The same freeze, ${withSafe}`,
    all
      ? "The server moves when the Sentinels announce a new primary (REDIS_FAILOVER_DETECTOR), a primary refuses writes without a replica in sync (min-replicas-to-write 1), and every write waits for a replica (REDIS_WAIT_REPLICAS=1)."
      : `Only one of the three safe settings this time (--safe ${safe.join(",")}). Does it close the window on its own?`,
  );
  const guarded = await startWatched(design, safe, "safe");
  runs.push(guarded);
  await guarded.user.register(guarded.url);
  await guarded.user.logIn(guarded.url);
  const safeFreeze = await freezeAndUpload(guarded, design, "after-the-safe-freeze.txt");
  const safeDemotedAt = await untilDemoted(safeFreeze.old, safeFreeze.fault.began_ms);
  console.log(`   ${node(safeFreeze.old)} became a replica ${seconds(safeDemotedAt - FREEZE_MS)} after SIGCONT`);
  const safeLoss = safeFreeze.fileId
    ? await readBack(guarded, design, safeFreeze.fault, safeFreeze.fileId, "after-the-safe-freeze.txt")
    : undefined;
  if (!safeLoss) console.log("   nothing to read back: the upload was refused, never acknowledged");
  printTimeline(guarded.events, safeFreeze.fault, "SIGSTOP");

  await talk.next(
    "What it cost",
    `Uploads to both servers in turn, ${COST_SAMPLES} each: one to the first (no safe setting), one to the second (${safe.join(", ")}). ${safe.includes("wait") ? "WAIT holds every answer until a replica has the write." : "Without WAIT, no write waits for anything more: is there a difference beyond the noise?"}`,
  );
  // Both servers first acknowledge an upload again (one without the detector may still be on the old primary).
  for (const run of [plain, guarded])
    await afterRetries(
      () => run.user.request(run.url, "POST", "/api/upload", { filename: "warm-up.txt", content: "" }),
      15_000,
    );
  const costStarted = Date.now();
  const timings = await timeInTurn(plain, guarded);
  const comparison = compareTimings(timings.without, timings.with);
  console.log(
    `   ${timings.without.length + timings.with.length} uploads one after the other in ${seconds(Date.now() - costStarted)}${timings.failed ? ` (${timings.failed} refused, left out)` : ""}:`,
  );
  const labels = ["without any safe setting:", `${withSafe}:`];
  const width = Math.max(...labels.map((label) => label.length));
  console.log(`   ${labels[0].padEnd(width)} ${describeSpread(comparison.baseline)}`);
  console.log(`   ${labels[1].padEnd(width)} ${describeSpread(comparison.candidate)}`);
  console.log(bold(`   ${describeVerdict(comparison, withSafe)}`));
  console.log(
    "   (on loopback, one user at a time, a replica answers within a millisecond; under load the difference grows)",
  );

  // Said as measured: a refused upload was never acknowledged; a 401 means the session itself was lost.
  const verdict =
    safeFreeze.upload.status === 401
      ? `the session was lost even so (${String(safeFreeze.upload.body.error)})`
      : safeLoss === undefined
        ? `nothing acknowledged was lost (the upload after the freeze was refused with ${safeFreeze.upload.status} ${String(safeFreeze.upload.body.error ?? safeFreeze.upload.error ?? "")}, never acknowledged)`
        : safeLoss === "nothing"
          ? "nothing acknowledged was lost"
          : safeLoss === "unknown"
            ? "the read-back could not tell what was kept"
            : `${safeLoss} was lost even so`;
  const crashVerdict =
    ok(after) && ok(kept)
      ? `replication kept ${design}'s session through a crash`
      : `a crash lost ${ok(after) ? "an acknowledged upload" : `${design}'s session (${String(after.body.error ?? after.error)})`}`;
  console.log(`\n${bold(`Verdict: ${crashVerdict}; ${pauseVerdict(design, frozenLoss)}; ${withSafe} ${verdict}.`)}`);
  await stopAll();
}

main().catch((error) => {
  console.error(`demo:failover: ${(error as Error).message}`);
  void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
});
