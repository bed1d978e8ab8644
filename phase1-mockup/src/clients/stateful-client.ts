// Narrated walk-through of the stateful server: the "long memory" conversation. The client
// proves who it is once, gets a session id, and from then on sends only X-Session-ID; the
// server remembers the rest in a Map. Run it against `npm run server:stateful`, after
// `npm run client:stateless` (docs/concepts.md, "goldfish vs long memory").

import { bold, freshUsername, Narrator, readArguments, restartCommand } from "./narrate";

async function main(): Promise<void> {
  const { url } = readArguments("client:stateful", "http://127.0.0.1:3001");
  const talk = new Narrator(url, "server:stateful");
  const username = freshUsername("elephant");
  const password = "correct-horse-battery";

  talk.title("The long memory: a stateful conversation", `Talking to ${url}. The server remembers you in a session.`);

  await talk.checkServer("stateful");
  await talk.register(username, password, "Registration creates the credentials, exactly as on the stateless server.");

  talk.step(
    "Start a session",
    "The password crosses the wire once more, and then no more in this session. The server answers with a session id.",
  );
  const start = await talk.send("POST", "/api/session/start", { body: { username, password } });
  talk.expect(start, 201, "starting a session");
  const sessionId = String(start.body.session_id);
  const session = {
    headers: { "X-Session-ID": sessionId },
    headerNotes: { "X-Session-ID": "no password: the id stands for it" },
  };
  talk.note(`expires_in ${String(start.body.expires_in)}: idle that many seconds and the session expires.`);

  talk.step("Upload a file", "Only the session id now. The server looks it up in its Map and knows who we are.");
  const key = `walkthrough-${Date.now()}`;
  const uploadOnce = () =>
    talk.send("POST", "/api/upload", {
      headers: { ...session.headers, "Idempotency-Key": key },
      headerNotes: { ...session.headerNotes, "Idempotency-Key": "lets a retry be recognised" },
      body: { filename: "notes.txt", content: "a stateful hello" },
    });
  const upload = await uploadOnce();
  talk.expect(upload, 201, "the upload");
  const fileId = String(upload.body.file_id);

  talk.step(
    "Send the same upload again",
    "As a client would after a lost answer: same Idempotency-Key, so 200 and the same file_id, not a copy.",
  );
  const replay = await uploadOnce();
  talk.expect(replay, 200, "the repeated upload");

  talk.step("List and read my files", "Still only the session id.");
  talk.expect(await talk.send("GET", "/api/files", session), 200, "the list");
  talk.expect(await talk.send("GET", `/api/files/${fileId}`, session), 200, "the read");

  talk.step("Look at the session", "The server's memory of us: every request counted, the upload remembered.");
  const view = await talk.send("GET", "/api/session", session);
  talk.expect(view, 200, "the session view");
  talk.note(
    `request_count ${String(view.body.request_count)}: this memory is what a restart or a second instance loses.`,
  );

  talk.step("Delete the file", "Still only the session id.");
  talk.expect(await talk.send("DELETE", `/api/files/${fileId}`, session), 200, "the delete");

  talk.step("End the session", "Logging out: the server deletes the session from its Map.");
  talk.expect(await talk.send("POST", "/api/session/end", session), 200, "ending the session");

  talk.step("Use the old session id", "The id is worthless now: the memory it pointed to is gone.");
  talk.expect(await talk.send("GET", "/api/files", session), 401, "a request with an ended session");

  talk.step(
    "Start one more session, keep a file, and leave both",
    "So that you can watch a restart forget the session and keep the file.",
  );
  const keep = await talk.send("POST", "/api/session/start", { body: { username, password } });
  talk.expect(keep, 201, "starting a second session");
  const kept = await talk.send("POST", "/api/upload", {
    headers: { "X-Session-ID": String(keep.body.session_id) },
    body: { filename: "kept.txt", content: "still here after a restart" },
  });
  talk.expect(kept, 201, "the upload of kept.txt");

  console.log(`\n${bold("What to notice")}`);
  console.log(
    "- The password crossed the wire once per session (and at registration); every other request sent only an id.",
  );
  console.log("- The server did the remembering: who you are, how many requests, which uploads. Cheap and rich.");
  console.log("- But that memory is a Map inside one process. See it die: restart the server (Ctrl-C, then");
  console.log(
    `  ${restartCommand(url, "stateful")}) and try this still-open session; it answers 401 session_not_found:`,
  );
  console.log(`    curl -i -H 'X-Session-ID: ${String(keep.body.session_id)}' ${url}/api/files`);
  console.log("  while kept.txt, on disk, is still there for a new session:");
  console.log(
    `    curl -s -X POST ${url}/api/session/start -H 'Content-Type: application/json' -d '{"username":"${username}","password":"${password}"}'`,
  );
  console.log(`    curl -s -H 'X-Session-ID: <the new session_id>' ${url}/api/files`);
}

void main();
