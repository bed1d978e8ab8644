// `npm run demo:tcp`: TCP keeps a connection, not a memory. A tiny line-based server keeps
// the user's name in a variable that belongs to one TCP connection. Over that connection it
// remembers; over a second connection to the same server it has never heard of the user,
// unless the application itself keeps something (here, a token it hands out) across them.
// Explained in docs/concepts.md ("TCP is not enough").

import { randomBytes } from "node:crypto";
import net from "node:net";
import { bold } from "./narration";

/** The server: per-connection state in a closure, and an application-level table of tokens. */
function startServer(): Promise<net.Server> {
  const tokens = new Map<string, string>(); // the application's own memory, across connections
  const server = net.createServer((socket) => {
    let name: string | undefined; // lives exactly as long as this TCP connection
    socket.setEncoding("utf8");
    let buffer = "";
    socket.on("data", (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
        const line = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 1);
        const [command, argument] = line.split(" ");
        if (command === "HELLO") {
          name = argument;
          const token = randomBytes(8).toString("hex");
          tokens.set(token, argument);
          socket.write(`hello ${argument}; your token is ${token}\n`);
        } else if (command === "WHOAMI") {
          socket.write(
            name
              ? `you are ${name} (I remember: same connection)\n`
              : "I don't know you (new connection, empty memory)\n",
          );
        } else if (command === "TOKEN") {
          const known = tokens.get(argument);
          socket.write(known ? `you are ${known} (the application remembered the token)\n` : "unknown token\n");
        } else {
          socket.write("commands: HELLO <name>, WHOAMI, TOKEN <token>\n");
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

/** One TCP connection that sends lines and prints each answer. */
async function conversation(port: number, label: string, lines: string[]): Promise<string[]> {
  const socket = net.connect(port, "127.0.0.1");
  socket.setEncoding("utf8");
  await new Promise((resolve) => socket.once("connect", resolve));
  console.log(bold(`\n${label} (local port ${socket.localPort})`));
  const answers: string[] = [];
  let buffer = "";
  for (const line of lines) {
    socket.write(`${line}\n`);
    const answer = await new Promise<string>((resolve) => {
      const onData = (chunk: string) => {
        buffer += chunk;
        const end = buffer.indexOf("\n");
        if (end < 0) return;
        socket.off("data", onData);
        const reply = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        resolve(reply);
      };
      socket.on("data", onData);
    });
    console.log(`  > ${line}\n  < ${answer}`);
    answers.push(answer);
  }
  socket.end();
  return answers;
}

async function main(): Promise<void> {
  const server = await startServer();
  const { port } = server.address() as net.AddressInfo;
  console.log(
    `${bold("TCP keeps a connection, not a memory.")} A server on 127.0.0.1:${port} remembers your name in a variable of the connection.`,
  );
  const first = await conversation(port, "Connection 1", ["HELLO alice", "WHOAMI"]);
  const token = /token is ([0-9a-f]+)/.exec(first[0])?.[1] ?? "";
  await conversation(port, "Connection 2, same client, same server", ["WHOAMI", `TOKEN ${token}`]);
  console.log("\nThe second connection found an empty memory: TCP gave us a reliable pipe, not a session.");
  console.log("Only the token, which the application kept in its own table, carried who you are across connections.");
  console.log(bold("Verdict: state across connections is the application's job (a session id, a token), never TCP's."));
  server.close();
}

main().catch((error) => {
  console.error(`demo:tcp: ${(error as Error).message}`);
  process.exit(1);
});
