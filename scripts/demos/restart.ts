// `npm run demo:restart -- --design D [--pause] [--crash]`: the instructor's restart demo. One
// instance; a user logs in and works; the server is restarted (SIGTERM, or SIGKILL with
// --crash); the same user, with the same credentials or session, asks again. One line at the
// end says whether the design kept the session. What to say at each step:
// docs/instructor-guide.md.

import { stopEverything } from "../processes/managed-process";
import { parseOrExit, readArgs, readDesign } from "../cli";
import { isPhase1, logsIn } from "../designs";
import { DemoUser } from "./demo-user";
import { beginDemo, bold, describe } from "./narration";
import { startStack } from "../processes/stack";
import * as nemesis from "../workbench/nemesis";

const USAGE =
  "usage: npm run demo:restart -- [--design D] [--pause] [--crash] [--compact]   (D: stateful when not given)";

async function main(): Promise<void> {
  const { given, pause, crash, compact } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design"], ["pause", "crash", "compact"]);
    return {
      given: readDesign(values.design, false),
      pause: values.pause ?? false,
      crash: values.crash ?? false,
      compact: values.compact ?? false,
    };
  });
  const { design, running, talk } = beginDemo(
    "demo:restart",
    { given, fallback: "stateful", next: "then try --design redis-session" },
    { pause, compact },
  );
  const signal = crash ? "SIGKILL" : "SIGTERM";

  await talk.next(
    `Start one ${design} server`,
    isPhase1(design) ? "Its users and files live on disk." : "Its users and files live in Redis.",
  );
  const stack = await startStack({ design, instances: 1, useRedisUrl: true, graceful: true, classroom: true });
  running.stack = stack;
  const [server] = stack.instances;
  console.log(`   ${server.serverId} on ${server.url} (pid ${server.pid})`);

  const user = new DemoUser(design, `demo${process.pid % 100000}`);
  await talk.next("A user registers, logs in and works", "Watch what proves who the user is on each request.");
  console.log(`   register: ${describe(await user.register(server.url))}`);
  const login = await user.logIn(server.url);
  console.log(`   log in:   ${logsIn(design) ? describe(login) : "none: the credentials go with every request"}`);
  console.log(
    `   upload:   ${describe(await user.request(server.url, "POST", "/api/upload", { filename: "notes.txt", content: "before the restart" }))}`,
  );
  console.log(`   who am I: ${describe(await user.whoAmI(server.url))}`);

  await talk.next(
    `Restart the server with ${signal}`,
    crash
      ? "SIGKILL: the process dies at once, in the middle of whatever it was doing."
      : "SIGTERM: the server finishes its requests and exits cleanly. Does a clean exit save the sessions?",
  );
  const context = { design, clock: () => performance.now() };
  const fault = crash ? await nemesis.crashInstance(server, context) : await nemesis.restartInstance(server, context);
  console.log(`   pid ${fault.target.pid} is gone`);
  console.log(`   ${server.serverId} is back on the same port ${server.port} (pid ${server.pid})`);

  await talk.next(
    "The same user asks again, with the same credentials or session",
    "Nothing changed on the client's side.",
  );
  const after = await user.whoAmI(server.url);
  console.log(`   who am I: ${describe(after)}`);
  const files = await user.request(server.url, "GET", "/api/files");
  console.log(`   files:    ${describe(files)}`);

  const kept = after.status === 200;
  console.log(
    `\n${bold(`Verdict: ${design} ${kept ? "kept" : "lost"} the user's ${logsIn(design) ? "session" : "access"} across a ${crash ? "crash" : "restart"}${kept ? "" : `: ${String(after.body.error ?? after.error)}`}.`)}`,
  );
  await stack.stop();
}

main().catch((error) => {
  console.error(`demo:restart: ${(error as Error).message}`);
  void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
});
