// The demos' user: one person at a keyboard, who logs in and proves who they are the way the
// design wants (scripts/designs.ts knows how) and never retries: a refused connection is
// shown as it is. The demos are walked through in docs/instructor-guide.md.

import { Credentials, Design, DesignRequest, fetchAnswer } from "../designs";

export interface Answer {
  status: number;
  servedBy: string;
  /** Replicated Redis: the node the server was connected to (X-Store-Node). */
  storeNode?: string;
  /** How long the request took, in milliseconds. */
  ms?: number;
  body: Record<string, unknown>;
  error?: string;
}

export class DemoUser {
  private readonly credentials: Credentials;

  constructor(design: Design, username: string) {
    this.credentials = new Credentials(design, username, "demo-password-1");
  }

  /** Every request carries the cookies the user holds (a sticky balancer's too) and its proof. */
  private async send(url: string, request: DesignRequest): Promise<Answer> {
    const started = performance.now();
    try {
      const answer = await fetchAnswer(url, {
        ...request,
        headers: { ...this.credentials.headers(), ...request.headers },
      });
      this.credentials.keepCookies(answer.setCookie);
      const ms = Math.round(performance.now() - started);
      return {
        status: answer.status,
        servedBy: answer.servedBy ?? "?",
        storeNode: answer.headers.get("X-Store-Node") ?? undefined,
        body: answer.body,
        ms,
      };
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      return { status: 0, servedBy: "-", body: {}, error: code };
    }
  }

  /** Any request, with what proves who the user is. */
  request(url: string, method: DesignRequest["method"], path: string, body?: unknown): Promise<Answer> {
    return this.send(url, { method, path, body });
  }

  register(url: string): Promise<Answer> {
    return this.send(url, this.credentials.registerRequest());
  }

  /** Logs in; where the design has no login, says so and keeps the credentials for every request. */
  async logIn(url: string): Promise<Answer> {
    const login = this.credentials.loginRequest();
    if (!login) {
      this.credentials.accept();
      return { status: 200, servedBy: "-", body: { note: "no login: the credentials go with every request" } };
    }
    const answer = await this.send(url, login);
    if (answer.status >= 200 && answer.status < 300)
      this.credentials.accept({ status: answer.status, body: answer.body });
    return answer;
  }

  /** The session view where the design has one, else the file list: "does the server know me?" */
  whoAmI(url: string): Promise<Answer> {
    return this.send(url, this.credentials.whoAmIRequest());
  }
}
