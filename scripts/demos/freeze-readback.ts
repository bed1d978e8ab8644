// What a frozen primary's window left behind, for demo:failover: once a Sentinel has demoted the
// old primary, the user's session and the upload made after the freeze are read where they are
// now, and what was lost is said as measured. The file is in PostgreSQL; the session's record of
// it is in Redis (docs/how-the-lab-works.md, "The expected matrix and the agreement rule").

import { Design, stateHomes } from "../designs";
import { sleep } from "../processes/managed-process";
import { ServerInstance } from "../processes/server-instance";
import { Stack } from "../processes/stack";
import { Fault } from "../workbench/nemesis";
import { Answer, DemoUser } from "./demo-user";
import { describe } from "./narration";

export const ok = (answer: Answer) => answer.status >= 200 && answer.status < 300;

/** Where the design keeps what a request changes in a session: in Redis, where a freeze can lose it. */
export const sessionInRedis = (design: Design) =>
  stateHomes(design).sessions === "redis" || stateHomes(design)["session fields"] === "redis";

/** A request again while it answers 503: the server reconnects on its own after a failover, as a client would retry. */
export async function afterRetries(request: () => Promise<Answer>, timeoutMs = 5000): Promise<Answer> {
  const started = Date.now();
  for (;;) {
    const answer = await request();
    if (answer.status !== 503 || Date.now() - started > timeoutMs) return answer;
    await sleep(200);
  }
}

/** The node the server was connected to when it answered (X-Store-Node), and which one that is. */
export function onNode(answer: Answer, fault: Fault): string {
  if (!answer.storeNode) return "";
  const port = Number(answer.storeNode.split(":").pop());
  const which =
    port === fault.target.port
      ? ", the primary we froze"
      : port === fault.promoted?.port
        ? ", the primary the Sentinels promoted"
        : "";
  return `${answer.storeNode}${which}`;
}

const listsUpload = (view: Answer, fileId: string) =>
  Array.isArray(view.body.files_uploaded) && view.body.files_uploaded.includes(fileId);

/** A session view's answer, whether its files_uploaded lists the upload, and on which node. */
export function describeSession(view: Answer, fault: Fault, fileId: string, filename: string): string {
  const listed = listsUpload(view, fileId) ? "lists" : "does not list";
  const on = onNode(view, fault);
  return `${ok(view) ? `${describe(view)}, files_uploaded ${listed} ${filename}` : describe(view)}${on && ` (on ${on})`}`;
}

/** What a read-back found missing of an acknowledged upload, as measured ("unknown": it could not tell). */
export type Loss = "nothing" | "the upload" | "the session" | "the session's record of the upload" | "unknown";

/** What readBack needs of a demo's stack: its environment (for one more instance), its user, its server. */
export interface ReadBackRun {
  stack: Stack;
  user: DemoUser;
  url: string;
  /** Instances started here: the demo stops them before the stack. */
  readers: ServerInstance[];
}

/**
 * After the demotion, the session and the file read where they are now: through a new instance,
 * which asks the Sentinels for the primary (the lab's read-back does the same). The server the
 * user used may still read the demoted node, or, with cached-session, its own copy of the
 * session. memory-session's sessions live in its instance: read there.
 */
export async function readBack(run: ReadBackRun, design: Design, fault: Fault, fileId: string, filename: string) {
  let url = run.url;
  if (stateHomes(design).sessions !== "instance") {
    const reader = new ServerInstance({
      design,
      serverId: `${design}-readback`,
      env: run.stack.env,
      dir: run.stack.dir,
      graceful: true,
    });
    run.readers.push(reader);
    await reader.start();
    url = reader.url;
    console.log(`   a new instance, ${reader.serverId}, asks the Sentinels for the primary, and reads:`);
  }
  const session = sessionInRedis(design) ? await afterRetries(() => run.user.whoAmI(url)) : undefined;
  if (session) console.log(`   the session: ${describeSession(session, fault, fileId, filename)}`);
  const file = await afterRetries(() => run.user.request(url, "GET", `/api/files/${fileId}`));
  console.log(`   the file ${filename}: ${describe(file)}${ok(file) ? " (PostgreSQL keeps it)" : ""}`);
  const lost: Loss =
    file.status === 404
      ? "the upload"
      : !ok(file)
        ? "unknown"
        : !session // the design keeps no session write of an upload in Redis
          ? "nothing"
          : session.status === 401 && session.body.error === "session_not_found"
            ? "the session"
            : !ok(session)
              ? "unknown"
              : listsUpload(session, fileId)
                ? "nothing"
                : "the session's record of the upload";
  return lost;
}

/** The sentence under the freeze's timeline: what the read-back found, or the refusal. */
export function pauseLesson(design: Design, upload: Answer, lost: Loss | undefined): string {
  if (!ok(upload) || !lost)
    return `the upload after the freeze was refused (${describe(upload)}): nothing acknowledged, nothing lost.`;
  switch (lost) {
    case "the upload":
      return "an acknowledged upload is gone.";
    case "the session":
      return "the file is kept (PostgreSQL); the session that knew about it is gone (Redis).";
    case "the session's record of the upload":
      return "the file is kept (PostgreSQL); the session's record of it is gone (Redis): an acknowledged session write was lost.";
    case "unknown":
      return "the read-back could not tell what was kept (its answers are above).";
  }
  return sessionInRedis(design)
    ? "this time nothing acknowledged was lost (the server did not write to the frozen primary)."
    : `nothing acknowledged was lost: an upload writes nothing of ${design}'s to Redis, and the file is in PostgreSQL.`;
}

/** The pause's part of the verdict line. */
export function pauseVerdict(design: Design, lost: Loss | undefined): string {
  switch (lost) {
    case undefined:
      return "a pause acknowledged nothing (the upload after it was refused)";
    case "the upload":
      return "a pause lost an acknowledged upload";
    case "the session":
      return "a pause lost a session it had acknowledged (the file is kept in PostgreSQL)";
    case "the session's record of the upload":
      return "a pause lost a session write it had acknowledged (the file is kept in PostgreSQL)";
    case "unknown":
      return "after a pause the read-back could not tell what was kept";
  }
  return sessionInRedis(design)
    ? "a pause lost nothing acknowledged this time"
    : `a pause lost nothing acknowledged (an upload writes nothing of ${design}'s to Redis)`;
}
