// scripts/designs.ts is the one place in the harness that knows how each design's user logs in
// and proves who it is: the lab's workload, the bench, the demos and the cluster all trust it.
// These tests hold it against real servers (phase 2's on a real Redis), one design at a time.

import { PHASE1_DESIGNS } from "../../phase1-mockup/src/config";
import { PHASE2_DESIGNS } from "../../phase2-production/src/operations/config";
import { freshDatabase, useStores } from "../../test-support/phase2-apps";
import { ServerProcess, startServer, stopAllServers } from "../../test-support/server-process";
import { makeTempDir, removeTempDirs } from "../../test-support/temp-dir";
import {
  Credentials,
  Design,
  DESIGNS,
  DesignRequest,
  fetchAnswer,
  hasSessionView,
  isPhase1,
  SESSION_COOKIE,
} from "../designs";

const redis = useStores();
const servers = new Map<Design, ServerProcess>();

afterAll(async () => {
  await stopAllServers();
  removeTempDirs();
});

async function server(design: Design): Promise<string> {
  let running = servers.get(design);
  if (!running) {
    const env: Record<string, string> = isPhase1(design)
      ? { DATA_DIR: makeTempDir("designs-data") }
      : {
          REDIS_URL: redis().url,
          DATABASE_URL: await freshDatabase(),
          KEY_PREFIX: `designs-${design}:`,
          LOG_LEVEL: "warn",
        };
    running = await startServer(design, { env });
    servers.set(design, running);
    for (let tries = 0; (await fetch(`${running.url}/ready`)).status !== 200; tries += 1) {
      if (tries > 100) throw new Error(`${design} never became ready`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return running.url;
}

/** Sends a request the way every client of the harness does, keeping the answer's cookies. */
async function send(url: string, credentials: Credentials, request: DesignRequest) {
  const answer = await fetchAnswer(url, request);
  credentials.keepCookies(answer.setCookie);
  return answer;
}

async function loggedIn(design: Design, username: string): Promise<{ url: string; credentials: Credentials }> {
  const url = await server(design);
  const credentials = new Credentials(design, username, "password-of-" + username);
  expect((await send(url, credentials, credentials.registerRequest())).status).toBe(201);
  const login = credentials.loginRequest();
  if (login) {
    const answer = await send(url, credentials, login);
    expect(answer.status).toBeGreaterThanOrEqual(200);
    expect(answer.status).toBeLessThan(300);
    credentials.accept(answer);
  } else {
    credentials.accept();
  }
  return { url, credentials };
}

describe("the designs the harness knows", () => {
  it("are exactly the designs the servers accept, phase 1 first", () => {
    expect([...DESIGNS]).toEqual([...PHASE1_DESIGNS, ...PHASE2_DESIGNS]);
  });
});

describe.each([...DESIGNS])("a %s user, through scripts/designs.ts", (design) => {
  it("logs in, and is known on the next request", async () => {
    const { url, credentials } = await loggedIn(design, `known-${design.slice(0, 8)}`);
    const answer = await send(url, credentials, credentials.whoAmIRequest());
    expect(answer.status).toBe(200);
    if (hasSessionView(design)) expect(answer.body.username).toBe(`known-${design.slice(0, 8)}`);
    else expect(Array.isArray(answer.body.files)).toBe(true);
  });

  it("is refused without what its design wants on each request", async () => {
    const { url, credentials } = await loggedIn(design, `bare-${design.slice(0, 8)}`);
    const bare = new Credentials(design, credentials.username, credentials.password); // never accepted a login
    expect((await fetchAnswer(url, bare.whoAmIRequest())).status).toBe(401);
  });

  it("asks for its session view only where the design has one", async () => {
    const { url, credentials } = await loggedIn(design, `view-${design.slice(0, 8)}`);
    const view = credentials.sessionViewRequest();
    expect(view !== undefined).toBe(hasSessionView(design));
    // And the design agrees: a sessionless design answers GET /api/session with 404.
    const asked = await fetchAnswer(url, { method: "GET", path: "/api/session", headers: credentials.headers() });
    expect(asked.status).toBe(hasSessionView(design) ? 200 : 404);
  });

  it("is refused after logging out, where the design can log out", async () => {
    const { url, credentials } = await loggedIn(design, `gone-${design.slice(0, 8)}`);
    const logout = credentials.logoutRequest();
    if (!logout) {
      expect(design).toBe("stateless"); // the one design with nothing to end
      return;
    }
    expect((await send(url, credentials, logout)).status).toBe(200);
    expect((await send(url, credentials, credentials.whoAmIRequest())).status).toBe(401);
  });
});

describe("a spare login", () => {
  it("keeps the balancer's cookie but not the session cookie", () => {
    const credentials = new Credentials("redis-session", "spare-user", "spare-password");
    credentials.keepCookies([`${SESSION_COOKIE}=s%3Aabc.def; Path=/; HttpOnly`, "lb_backend=redis-session-2; Path=/"]);
    expect(credentials.headers().Cookie).toBe(`${SESSION_COOKIE}=s%3Aabc.def; lb_backend=redis-session-2`);
    expect(credentials.spare().headers().Cookie).toBe("lb_backend=redis-session-2");
  });
});
