// Narrated walk-through of the stateless server: the "goldfish" conversation. The server
// remembers nothing, so the client sends its username and password with every request and
// the server checks them every time. Run it against `npm run server:stateless`, then compare
// with `npm run client:stateful` (docs/concepts.md, "goldfish vs long memory").

import { bold, freshUsername, Narrator, readArguments, restartCommand } from "./narrate";

async function main(): Promise<void> {
  const { url } = readArguments("client:stateless", "http://127.0.0.1:3000");
  const talk = new Narrator(url, "server:stateless");
  const username = freshUsername("goldfish");
  const password = "correct-horse-battery";
  const basic = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
  const auth = {
    headers: { Authorization: basic },
    headerNotes: { Authorization: `${username}:${password}, base64-encoded` },
  };
  let passwordsSent = 0;
  const withPassword = () => {
    passwordsSent += 1;
    return auth;
  };

  talk.title(
    "The goldfish: a stateless conversation",
    `Talking to ${url}. The server keeps no memory of you between requests.`,
  );

  await talk.checkServer("stateless");
  await talk.register(
    username,
    password,
    "Registration is the one request that carries no credentials: it creates them.",
  );
  passwordsSent += 1;

  talk.step("Ask without credentials", "Having just registered does not help: the server has already forgotten us.");
  const refused = await talk.send("GET", "/api/files");
  talk.expect(refused, 401, "a request without credentials");
  talk.note("401 with WWW-Authenticate: every request must say who it is, every time.");

  talk.step("Upload a file", "So every request carries Authorization: Basic, the password included.");
  const upload = await talk.send("POST", "/api/upload", {
    ...withPassword(),
    body: { filename: "notes.txt", content: "a stateless hello" },
  });
  talk.expect(upload, 201, "the upload");
  const fileId = String(upload.body.file_id);

  talk.step("List my files", "The password again. The server hashes it again (scrypt) before it answers.");
  talk.expect(await talk.send("GET", "/api/files", withPassword()), 200, "the list");

  talk.step("Read the file", "And again.");
  talk.expect(await talk.send("GET", `/api/files/${fileId}`, withPassword()), 200, "the read");

  talk.step("Delete the file", "And again.");
  talk.expect(await talk.send("DELETE", `/api/files/${fileId}`, withPassword()), 200, "the delete");

  talk.step("Is there a session?", "There is nothing to look at: the stateless design keeps no session.");
  talk.expect(await talk.send("GET", "/api/session"), 404, "GET /api/session");

  talk.step("Keep a file, and leave", "So that you can watch a restart change nothing.");
  talk.expect(
    await talk.send("POST", "/api/upload", {
      ...withPassword(),
      body: { filename: "kept.txt", content: "still here after a restart" },
    }),
    201,
    "the upload of kept.txt",
  );

  console.log(`\n${bold("What to notice")}`);
  console.log(
    `- ${talk.requests} requests; the password crossed the wire ${passwordsSent} times and was checked each time.`,
  );
  console.log("- Nothing about you lives in the server's memory: restart it, or send the next request to another");
  console.log(
    `  instance, and the same Authorization header works just the same. Restart it (Ctrl-C, then ${restartCommand(url, "stateless")})`,
  );
  console.log("  and ask again: 200 OK, and kept.txt is listed:");
  console.log(`    curl -i -u '${username}:${password}' ${url}/api/files`);
  console.log("- The price: every request costs a password hash, and the client must hold the password.");
  console.log("Now compare the long memory: npm run server:stateful, then npm run client:stateful");
}

void main();
