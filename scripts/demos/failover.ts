// `npm run demo:failover -- [--design D] [--pause]`: the instructor's replication demo, on a
// primary, two replicas and three Sentinels. A session and an upload survive a SIGKILL of the
// primary; then a frozen primary comes back, acknowledges an upload, and loses it when the
// Sentinels demote it; then the same freeze with the safe settings loses nothing, and what
// that costs. What to say at each step: docs/instructor-guide.md.

import { parseOrExit, readArgs, readDesign, refuseNativeWindows, UsageError } from "../cli";
import { isPhase1 } from "../designs";
import { sleep, stopEverything } from "../processes/managed-process";
import { RedisServer } from "../processes/redis";
import { ask, ReplicatedRedis } from "../processes/replicated-redis";
import { Answer, DemoUser } from "./demo-user";
import { bold, describe, Narration } from "./narration";
import { Stack, startStack, stopOnSignals } from "../processes/stack";

const USAGE = "usage: npm run demo:failover -- [--design D] [--pause]   (D: a phase-2 design; default redis-session)";
const FREEZE_MS = 5000;

const node = (server: RedisServer | undefined) => (server ? `127.0.0.1:${server.port}` : "none");
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The median time of `count` uploads one after the other: what an acknowledgement costs. */
async function uploadMs(user: DemoUser, url: string, count: number, tag: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1)
    times.push(
      (await user.request(url, "POST", "/api/upload", { filename: `${tag}-${i}.txt`, content: "timing" })).ms ?? 0,
    );
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Asks "who am I?" every 100 ms until the answer is 2xx; how long that took. */
async function untilServed(user: DemoUser, url: string, timeoutMs = 30_000): Promise<{ ms: number; answer: Answer }> {
  const started = Date.now();
  for (;;) {
    const answer = await user.whoAmI(url);
    if ((answer.status >= 200 && answer.status < 300) || Date.now() - started > timeoutMs)
      return { ms: Date.now() - started, answer };
    await sleep(100);
  }
}

/** A request again while it answers 503: the server reconnects on its own after a failover, as a client would retry. */
async function afterRetries(request: () => Promise<Answer>, timeoutMs = 5000): Promise<Answer> {
  const started = Date.now();
  for (;;) {
    const answer = await request();
    if (answer.status !== 503 || Date.now() - started > timeoutMs) return answer;
    await sleep(200);
  }
}

/** Waits until `old` reports that it is a replica again (a Sentinel noticed it); how long that took. */
async function untilDemoted(old: RedisServer, timeoutMs = 30_000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    const role = (await ask(old.port, "ROLE").catch(() => null)) as unknown[] | null;
    if (role?.[0] === "slave") return Date.now() - started;
    await sleep(200);
  }
  throw new Error(`the old primary was not demoted within ${timeoutMs / 1000} s`);
}

/** The node every Sentinel names as the primary; an error while they disagree. */
async function primaryNow(replicated: ReplicatedRedis): Promise<RedisServer> {
  const primary = await replicated.agreedPrimary();
  if (!primary) throw new Error("the Sentinels do not agree on a primary");
  return primary;
}

/** Freezes the primary for 5 s, uploads as soon as it is back, and says who acknowledged it. */
async function freezeAndUpload(replicated: ReplicatedRedis, user: DemoUser, url: string, filename: string) {
  await replicated.sentinelsConnected();
  const old = await primaryNow(replicated);
  old.freeze();
  console.log(`   SIGSTOP the primary ${node(old)}: it stalls, its connections stay open`);
  console.log(`   a request during the freeze: ${describe(await user.whoAmI(url))}`);
  await sleep(FREEZE_MS);
  old.resume();
  const promoted = await replicated.waitForNewPrimary(old);
  console.log(`   SIGCONT after ${seconds(FREEZE_MS)}; meanwhile the Sentinels promoted ${node(promoted)}`);
  const upload = await user.request(url, "POST", "/api/upload", { filename, content: "written just after the freeze" });
  const by =
    upload.storeNode === node(old)
      ? ` by ${upload.storeNode}, the primary we froze`
      : upload.storeNode
        ? ` by ${upload.storeNode}`
        : "";
  console.log(`   upload ${filename}: ${describe(upload)}${upload.status < 300 ? `, acknowledged${by}` : ""}`);
  return { old, upload };
}

async function main(): Promise<void> {
  const { design, pause } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design"], ["pause"]);
    const chosen = readDesign(values.design ?? "redis-session", true);
    if (isPhase1(chosen)) throw new UsageError(`--design must be a phase-2 design: ${chosen} keeps nothing in Redis`);
    return { design: chosen, pause: values.pause ?? false };
  });
  refuseNativeWindows("demo:failover");
  const running: { stack?: Stack } = {};
  stopOnSignals(
    () => running.stack,
    (line) => console.log(line),
  );
  const talk = new Narration(pause);

  await talk.next(
    `Start replicated Redis and one ${design} server`,
    "A primary, two replicas that copy it, and three Sentinels that watch it. The server asks the Sentinels which node is the primary.",
  );
  let stack = await startStack({ design, instances: 1, store: "sentinel", graceful: true });
  running.stack = stack;
  let replicated = stack.replicated as ReplicatedRedis;
  let [server] = stack.instances;
  console.log(
    `   primary ${node(await replicated.agreedPrimary())}, replicas ${replicated.nodes.slice(1).map(node).join(" and ")}, Sentinels ${replicated.sentinelList}`,
  );
  const user = new DemoUser(design, `fail${process.pid % 100000}`);
  console.log(`   register: ${describe(await user.register(server.url))}`);
  console.log(`   log in:   ${describe(await user.logIn(server.url))}`);
  const first = await user.request(server.url, "POST", "/api/upload", {
    filename: "before-the-crash.txt",
    content: "kept?",
  });
  console.log(`   upload:   ${describe(first)} (file ${String(first.body.file_id)})`);
  const plainMs = await uploadMs(user, server.url, 20, "plain");

  await talk.next(
    "Crash the primary (SIGKILL)",
    "The Sentinels wait 1 s of silence, agree, and promote a replica. Does the session survive?",
  );
  await replicated.sentinelsConnected();
  const crashed = await primaryNow(replicated);
  await crashed.kill();
  const { ms: gap, answer: after } = await untilServed(user, server.url);
  console.log(
    `   ${node(crashed)} is gone; the server answered again after ${seconds(gap)}, from the primary ${node(await replicated.agreedPrimary())}`,
  );
  console.log(`   who am I: ${describe(after)}`);
  const kept = await user.request(server.url, "GET", `/api/files/${String(first.body.file_id)}`);
  console.log(`   the upload: ${describe(kept)}`);
  console.log(bold(`   A crash: writes stopped for ${seconds(gap)}, and nothing acknowledged was lost.`));

  await talk.next(
    "Now a pause: freeze the primary for 5 s (SIGSTOP)",
    "A stalled process, or a network pause. The Sentinels promote the last replica meanwhile. What does the old primary do when it wakes up?",
  );
  const { old, upload } = await freezeAndUpload(replicated, user, server.url, "after-the-freeze.txt");

  await talk.next(
    "Wait for a Sentinel to notice the old primary",
    "It is demoted only when a Sentinel's periodic check sees it (every 10 s). Then it copies the new primary, and drops what only it had.",
  );
  console.log(`   ${node(old)} became a replica after ${seconds(await untilDemoted(old))}`);
  const lost = await afterRetries(() => user.request(server.url, "GET", `/api/files/${String(upload.body.file_id)}`));
  console.log(`   read the acknowledged upload ${String(upload.body.file_id)}: ${describe(lost)}`);
  console.log(
    bold(
      `   A pause: ${lost.status === 404 ? "an acknowledged upload is gone." : "this time the upload survived (the server did not write to the frozen primary)."}`,
    ),
  );
  await stack.stop();

  await talk.next(
    "The same freeze, with the safe settings",
    "The server moves when the Sentinels announce a new primary (REDIS_FAILOVER_DETECTOR), a primary refuses writes without a replica in sync (min-replicas-to-write 1), and every write waits for a replica (REDIS_WAIT_REPLICAS=1).",
  );
  stack = await startStack({ design, instances: 1, store: "sentinel-safe", graceful: true });
  running.stack = stack;
  replicated = stack.replicated as ReplicatedRedis;
  [server] = stack.instances;
  const safeUser = new DemoUser(design, `safe${process.pid % 100000}`);
  await safeUser.register(server.url);
  await safeUser.logIn(server.url);
  const safeMs = await uploadMs(safeUser, server.url, 20, "safe");
  const safe = await freezeAndUpload(replicated, safeUser, server.url, "after-the-safe-freeze.txt");
  console.log(`   ${node(safe.old)} became a replica after ${seconds(await untilDemoted(safe.old))}`);
  const read =
    safe.upload.status < 300
      ? await afterRetries(() => safeUser.request(server.url, "GET", `/api/files/${String(safe.upload.body.file_id)}`))
      : undefined;
  console.log(`   read it back: ${read ? describe(read) : "nothing to read: it was refused, never acknowledged"}`);

  await talk.next(
    "What it cost",
    "WAIT holds every answer until a replica has the write: one more round trip per write, to the replica and back.",
  );
  console.log(
    `   median of 20 uploads one after the other: ${plainMs} ms without the safe settings, ${safeMs} ms with them`,
  );
  console.log(
    "   (on loopback, one user at a time, the replica answers within a millisecond; under load the difference grows)",
  );
  // Said as measured: a refused upload was never acknowledged; a 401 means the session itself was lost.
  const verdict =
    safe.upload.status === 401
      ? `the session was lost even so (${String(safe.upload.body.error)})`
      : read === undefined || read.status === 200
        ? "nothing acknowledged was lost"
        : "an acknowledged upload was lost even so";
  const pauseVerdict = lost.status === 404 ? "a pause lost an acknowledged write" : "a pause lost nothing this time";
  console.log(
    `\n${bold(`Verdict: replication kept ${design}'s data through a crash; ${pauseVerdict}; with the safe settings ${verdict}.`)}`,
  );
  await stack.stop();
}

main().catch((error) => {
  console.error(`demo:failover: ${(error as Error).message}`);
  void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
});
