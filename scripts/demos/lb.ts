// `npm run demo:lb -- --design D --lb round-robin|sticky [--pause]`: the instructor's
// load-balancer demo. Three instances behind the built-in balancer; one user logs in and asks
// six times; each answer names the instance that gave it. One line at the end says whether
// the design served the user from every instance. What to say at each step:
// docs/instructor-guide.md.

import { stopEverything } from "../processes/managed-process";
import { parseOrExit, readArgs, readDesign, readStrategy } from "../cli";
import { DemoUser } from "./demo-user";
import { beginDemo, bold, describe } from "./narration";
import { startStack } from "../processes/stack";

const USAGE =
  "usage: npm run demo:lb -- [--design D] [--lb round-robin|sticky] [--pause] [--compact]   (stateful behind round-robin when not given)";

async function main(): Promise<void> {
  const { given, lb, pause, compact } = parseOrExit(USAGE, () => {
    const values = readArgs(process.argv.slice(2), ["design", "lb"], ["pause", "compact"]);
    return {
      given: readDesign(values.design, false),
      lb: readStrategy(values.lb),
      pause: values.pause ?? false,
      compact: values.compact ?? false,
    };
  });
  const { design, running, talk } = beginDemo(
    "demo:lb",
    { given, fallback: "stateful", next: "then try --lb sticky, and --design redis-session" },
    { pause, compact },
  );

  await talk.next(
    `Start three ${design} instances behind a ${lb} balancer`,
    lb === "sticky"
      ? "The balancer pins each client to one instance with its own cookie."
      : "The balancer sends each request to the next instance in turn.",
  );
  const stack = await startStack({
    design,
    instances: 3,
    balancer: lb,
    useRedisUrl: true,
    graceful: true,
    classroom: true,
  });
  running.stack = stack;
  const url = stack.balancerUrl as string;
  console.log(
    `   balancer ${url}; instances ${stack.instances.map((instance) => `${instance.serverId} (${instance.url})`).join(", ")}`,
  );

  const user = new DemoUser(design, `lbdemo${process.pid % 100000}`);
  await talk.next(
    "A user registers and logs in through the balancer",
    "Whichever instance answers the login is the one that remembers it, if any does.",
  );
  console.log(`   register: ${describe(await user.register(url))}`);
  const login = await user.logIn(url);
  console.log(`   log in:   ${describe(login)}`);

  await talk.next("The user asks six times", "Each answer names the instance that gave it (X-Served-By).");
  const answers = [];
  for (let i = 1; i <= 6; i += 1) {
    const answer = await user.whoAmI(url);
    answers.push(answer);
    console.log(`   ask ${i}:    ${describe(answer)}`);
  }
  const refused = answers.filter((answer) => answer.status !== 200).length;
  const instances = new Set(answers.filter((answer) => answer.status === 200).map((answer) => answer.servedBy));
  // A session view whose request_count goes back: the instances disagree about the session.
  const counts = answers
    .filter((answer) => typeof answer.body.request_count === "number")
    .map((answer) => answer.body.request_count as number);
  const wentBack = counts.some((count, i) => i > 0 && count <= counts[i - 1]);
  const verdict =
    refused > 0
      ? `${design} behind ${lb}: ${refused} of 6 requests refused: the session lives on one instance only.`
      : wentBack
        ? `${design} behind ${lb}: all 6 requests served, but request_count went ${counts.join(", ")}: each instance serves its own stale copy of the session.`
        : `${design} behind ${lb}: all 6 requests served, by ${instances.size} instance(s)${lb === "sticky" ? " (the balancer kept the user on one)" : ""}.`;
  console.log(`\n${bold(`Verdict: ${verdict}`)}`);
  await stack.stop();
}

main().catch((error) => {
  console.error(`demo:lb: ${(error as Error).message}`);
  void stopEverything().finally(() => process.exit(1)); // nothing it started may outlive it
});
