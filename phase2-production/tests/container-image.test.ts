/**
 * @jest-environment ./test-support/machine-lock-environment.js
 * @machine-lock shared
 * @machine-heavy
 */
// Phase 2's container image (phase2-production/Dockerfile), built and run for real with podman
// on a real Redis and PostgreSQL: the one-line refusal of a missing setting, a user's workflow,
// the unprivileged user, the HEALTHCHECK, and the drain on SIGTERM that ends in exit code 0.
// Skipped, with a one-line note, where podman or the local base image is missing (npm run
// setup -- --containers, as root, installs both); CI has them.

import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fetchJson, freeLoopbackPort, sessionCookie } from "../../test-support/http";
import { freshDatabase, TEST_SECRET, useStores } from "../../test-support/phase2-apps";
import { REPO_ROOT } from "../../scripts/processes/run-dir";

const run = promisify(execFile);
const BASE_IMAGE = "localhost/lab-node-base:24-bookworm";
const IMAGE = `localhost/stateful-vs-stateless-lab:test-${process.pid}`;

// podman's settings for this file only, in a throw-away folder (scripts/containers/podman-conf.sh).
const scratch = mkdtempSync(path.join(os.tmpdir(), "container-image-"));
const env = { ...process.env, CONTAINERS_CONF: path.join(scratch, "containers.conf") };
const podmanFound = spawnSync("podman", ["--version"]).status === 0;
const ready =
  podmanFound &&
  spawnSync("bash", [path.join(REPO_ROOT, "scripts", "containers", "podman-conf.sh"), env.CONTAINERS_CONF]).status ===
    0 &&
  spawnSync("podman", ["image", "exists", BASE_IMAGE], { env }).status === 0;
const withPodman = ready ? describe : describe.skip;
if (!ready) {
  console.log(
    `container-image: skipped: ${podmanFound ? `no ${BASE_IMAGE}` : "no podman"} (npm run setup -- --containers, as root, installs both)`,
  );
}

/** The containers this file started, by id: each is removed afterwards, pass or fail. */
const started: string[] = [];

function podman(args: string[], timeoutMs = 60_000) {
  return run("podman", args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
}

const redis = useStores();

afterAll(async () => {
  if (started.length > 0) await podman(["rm", "--force", "--time", "0", ...started]).catch(() => undefined);
  if (ready) await podman(["rmi", "--force", IMAGE]).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

withPodman("phase 2's container image", () => {
  beforeAll(async () => {
    // A network whose proxy re-signs TLS: the build's npm ci needs the machine's certificates.
    const ca = process.env.NODE_EXTRA_CA_CERTS;
    await podman(
      [
        "build",
        "--format",
        "docker",
        "--file",
        "phase2-production/Dockerfile",
        "--build-arg",
        `BASE_IMAGE=${BASE_IMAGE}`,
        ...(ca && existsSync(ca) ? ["--secret", `id=ca,src=${ca}`] : []),
        "--tag",
        IMAGE,
        REPO_ROOT,
      ],
      600_000,
    );
  }, 600_000);

  /** Runs the image detached on the host's network (Redis and PostgreSQL are on its loopback). */
  async function startContainer(settings: Record<string, string>): Promise<string> {
    const { stdout } = await podman([
      "run",
      "--detach",
      "--network",
      "host",
      ...Object.entries(settings).flatMap(([key, value]) => ["--env", `${key}=${value}`]),
      IMAGE,
    ]);
    const id = stdout.trim();
    started.push(id);
    return id;
  }

  async function exitCode(id: string): Promise<number> {
    const { stdout } = await podman(["wait", id]);
    return Number(stdout.trim());
  }

  it("stops at once with one line naming DATABASE_URL when it is missing", async () => {
    const id = await startContainer({ DESIGN: "redis-session", SESSION_SECRET: TEST_SECRET });
    expect(await exitCode(id)).toBe(1);
    const { stdout, stderr } = await podman(["logs", id]);
    const lines = (stdout + stderr).trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("DATABASE_URL must be set");
  });

  it("serves a user's workflow as the node user, is healthy, and drains on SIGTERM to exit 0", async () => {
    const port = await freeLoopbackPort();
    const url = `http://127.0.0.1:${port}`;
    const id = await startContainer({
      DESIGN: "redis-session",
      HOST: "127.0.0.1",
      PORT: String(port),
      SESSION_SECRET: TEST_SECRET,
      PASSWORD_HASH_COST: "4",
      DATABASE_URL: await freshDatabase(),
      REDIS_URL: redis().url,
      KEY_PREFIX: "image:",
    });
    const deadline = Date.now() + 20_000;
    while ((await fetchJson(`${url}/ready`).catch(() => ({ status: 0 }))).status !== 200) {
      if (Date.now() > deadline) throw new Error(`the container did not answer /ready within 20 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const credentials = { username: "contained", password: "password-ok" };
    expect((await fetchJson(`${url}/api/users`, { method: "POST", json: credentials })).status).toBe(201);
    const login = await fetchJson(`${url}/api/login`, { method: "POST", json: credentials });
    expect(login.status).toBe(200);
    const cookie = sessionCookie(login.headers.getSetCookie());
    const upload = await fetchJson(`${url}/api/upload`, {
      method: "POST",
      headers: { Cookie: cookie },
      json: { filename: "inside.txt", content: "written from a container" },
    });
    expect(upload.status).toBe(201);
    const list = await fetchJson(`${url}/api/files`, { headers: { Cookie: cookie } });
    expect((list.body.files as Array<{ filename: string }>).map((file) => file.filename)).toEqual(["inside.txt"]);

    expect((await podman(["exec", id, "id", "-u"])).stdout.trim()).toBe("1000"); // never root
    await podman(["healthcheck", "run", id]); // exit code 0: healthy, or it throws

    await podman(["stop", "--time", "15", id]);
    expect(await exitCode(id)).toBe(0); // drained, not killed at the end of the grace period
    const { stdout, stderr } = await podman(["logs", id]);
    expect(stdout + stderr).toContain("SIGTERM: draining");
  });
});
