// What the instructor's demos share: a narrator with colour only on a terminal (never with
// NO_COLOR), `--pause` to wait for Enter between steps, and a demo user that logs in and works
// the way each design wants. The demos are walked through in docs/instructor-guide.md.

import readline from "node:readline";
import { Design } from "./scenarios";

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = paint("1");
export const green = paint("32");
export const red = paint("31");
export const dim = paint("2");

export class Narration {
  private step = 0;
  constructor(private readonly pause: boolean) {}

  async next(title: string, explanation: string): Promise<void> {
    if (this.pause && this.step > 0) await waitForEnter();
    this.step += 1;
    console.log(`\n${bold(`${this.step}. ${title}`)}\n${dim(explanation)}`);
  }
}

function waitForEnter(): Promise<void> {
  if (!process.stdin.isTTY) return Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise((resolve) =>
    rl.question(dim("   (Enter to go on) "), () => {
      rl.close();
      resolve();
    }),
  );
}

export interface Answer {
  status: number;
  servedBy: string;
  body: Record<string, unknown>;
  error?: string;
}

/** A user of one design: logs in as that design wants, then keeps whatever proves who it is. */
export class DemoUser {
  private headers: Record<string, string> = {};
  private readonly cookies = new Map<string, string>();
  readonly password = "demo-password-1";

  constructor(
    readonly design: Design,
    readonly username: string,
  ) {}

  async request(url: string, method: string, path: string, body?: unknown): Promise<Answer> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
    try {
      const response = await fetch(url + path, {
        method,
        headers: { ...this.headers, ...(cookie ? { Cookie: cookie } : {}), ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(5000),
      });
      for (const header of response.headers.getSetCookie()) {
        const [pair] = header.split(";");
        const eq = pair.indexOf("=");
        this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
      }
      const text = await response.text();
      return { status: response.status, servedBy: response.headers.get("X-Served-By") ?? "?", body: text ? JSON.parse(text) : {} };
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      return { status: 0, servedBy: "-", body: {}, error: code };
    }
  }

  async register(url: string): Promise<Answer> {
    return this.request(url, "POST", "/api/users", { username: this.username, password: this.password });
  }

  async logIn(url: string): Promise<Answer> {
    if (this.design === "stateless") {
      this.headers = { Authorization: `Basic ${Buffer.from(`${this.username}:${this.password}`).toString("base64")}` };
      return { status: 200, servedBy: "-", body: { note: "stateless: no login, credentials go with every request" } };
    }
    const answer = await this.request(url, "POST", this.design === "stateful" ? "/api/session/start" : "/api/login", { username: this.username, password: this.password });
    if (this.design === "stateful") this.headers = { "X-Session-ID": String(answer.body.session_id) };
    if (this.design === "jwt") this.headers = { Authorization: `Bearer ${String(answer.body.token)}` };
    return answer;
  }

  /** The session view where the design has one, else the file list: "does the server know me?" */
  whoAmI(url: string): Promise<Answer> {
    return this.request(url, "GET", this.design === "stateless" || this.design === "jwt" ? "/api/files" : "/api/session");
  }
}

/** One line for an answer: status, instance, and the gist of the body. */
export function describe(answer: Answer): string {
  if (answer.error) return red(`no answer (${answer.error})`);
  const gist = answer.body.error ? `${String(answer.body.error)}` : answer.body.request_count !== undefined ? `request_count ${String(answer.body.request_count)}` : Array.isArray(answer.body.files) ? `${answer.body.files.length} file(s)` : "";
  const text = `${answer.status} from ${answer.servedBy}${gist ? `: ${gist}` : ""}`;
  return answer.status >= 200 && answer.status < 300 ? green(text) : red(text);
}
