// What the live view puts on a projector (docs/instructor-guide.md, "The 10-minute demo"): the
// store panel shows the commands a Redis node ran and the keys they named, never a value (the
// users' sessions and files), and the virtual users' names carry a random part, so that nobody
// in the room can guess one and log in as that user.

import { classroomTag } from "../dashboard/classroom";
import { commandLine } from "../dashboard/store-panel";

describe("what the live view shows a class", () => {
  it("shows a command and its key, never the value it writes", () => {
    const line = commandLine(["set", "lab:file:{7f3a}:abc", '{"filename":"diary.txt","content":"my secret"}', "NX"]);
    expect(line).toBe("SET lab:file:{7f3a}:abc");
    expect(commandLine(["hset", "lab:sessfields:{lab:sess:x}", "last_activity", "2026-12-07T18:00:00Z"])).toBe(
      "HSET lab:sessfields:{lab:sess:x}",
    );
  });

  it("shows every key of a command made of keys, and a script's keys but not its arguments", () => {
    expect(commandLine(["mget", "lab:a", "lab:b"])).toBe("MGET lab:a lab:b");
    expect(commandLine(["del", "k1", "k2", "k3", "k4"])).toBe("DEL k1 k2 k3 …");
    expect(commandLine(["evalsha", "0123abcd", "2", "lab:usage:{u}", "lab:file:{u}:f", "secret content", "1000"])).toBe(
      "EVALSHA lab:usage:{u} lab:file:{u}:f",
    );
  });

  it("names the live view's users with a part nobody can guess, within the username rule", () => {
    const tags = new Set(Array.from({ length: 20 }, () => classroomTag(1)));
    expect(tags.size).toBe(20);
    for (const tag of tags) expect(`user0-${tag}`).toMatch(/^[a-z0-9_-]{3,32}$/);
  });
});
