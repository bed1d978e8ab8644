// The `jwt` design's own routes: login hands out a token, logout denies it, and there is no
// session view because there is no session. Explained in docs/transition-to-phase2.md ("The
// other road: jwt").

import { Request, RequestHandler, Response, Router } from "express";
import { ApiError } from "../../../phase1-mockup/src/domain/errors";
import { UserService } from "../../../phase1-mockup/src/domain/users";
import { TokenService, VerifiedToken } from "./tokens";

export function bearerAuthentication(tokens: TokenService): RequestHandler {
  return async (req, res, next) => {
    const token = await tokens.verifySignature(req.get("Authorization"));
    res.locals.username = token.username;
    res.locals.userId = token.userId;
    res.locals.token = token;
    const revocation = tokens.checkNotRevoked(token);
    if (req.method === "GET") {
      // A read may start at once: the deny-list check and the data read then go to Redis
      // together, and the answer waits for both (the file routes' beforeAnswer).
      revocation.catch(() => undefined); // its failure is reported by beforeAnswer
      res.locals.revocation = revocation;
    } else {
      await revocation; // a write never happens for a logged-out token
    }
    next();
  };
}

/** The file routes' beforeAnswer for jwt: a read answers only once the deny-list said yes. */
export function revocationChecked(_req: Request, res: Response): Promise<void> {
  return (res.locals.revocation as Promise<void> | undefined) ?? Promise.resolve();
}

export function jwtRoutes(
  users: UserService,
  tokens: TokenService,
  ttlSeconds: number,
  onTokenIssued: () => void,
): Router {
  const router = Router();
  const authenticate = bearerAuthentication(tokens);

  router.post("/api/login", async (req, res) => {
    const token = await tokens.issue(await users.login(req.body));
    onTokenIssued();
    res.json({ token, expires_in: ttlSeconds });
  });

  router.post("/api/logout", authenticate, async (_req, res) => {
    await tokens.revoke(res.locals.token as VerifiedToken);
    res.json({ message: "logged out: this token is refused from now on" });
  });

  router.get("/api/session", () => {
    throw new ApiError(404, "not_found", "the jwt design keeps no session: the token carries who you are");
  });

  return router;
}
