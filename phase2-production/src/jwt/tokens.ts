// The `jwt` design: no session on the server at all. At login the server signs a token
// (HS256 with SESSION_SECRET) that says who the user is and until when; every request
// carries it and is checked by its signature and its `exp` alone, never by a store lookup.
//
// Almost: logging out needs the server to remember something again. A token cannot be
// "unsigned", so logout puts its id (`jti`) on a deny-list in Redis until the token would
// have expired anyway. That is the state that creeps back (docs/concepts.md).

import { randomBytes } from "node:crypto";
import type { RedisClient } from "../operations/redis-client";
import type * as Jose from "jose";
import { ApiError } from "../../../phase1-mockup/src/domain/errors";
import type { Identity } from "../../../phase1-mockup/src/domain/users";
import { ConfirmedWrite, guardRedis } from "../operations/redis-client";

export interface VerifiedToken {
  /** `sub`: the user's immutable id, under which its files are kept. */
  userId: string;
  /** `name`: the name the user logged in with (for people reading the token). */
  username: string;
  jti: string;
  expiresAt: number; // seconds since the epoch
}

/** How far ahead of this server's clock a token's iat may be: clocks of two machines differ a little. */
const MAX_CLOCK_SKEW_SECONDS = 60;
const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i; // the scheme is case-insensitive (RFC 9110)

export class TokenService {
  private readonly key: Uint8Array;
  private readonly jose: typeof Jose;

  private readonly ttlSeconds: number;
  private readonly maxAgeSeconds: number;

  constructor(
    secret: string,
    /** A token's lifetime (SESSION_TTL_SECONDS), and the oldest token accepted by its iat (JWT_MAX_AGE). */
    lifetimes: { ttlSeconds: number; maxAgeSeconds: number },
    private readonly client: RedisClient,
    private readonly prefix: string,
    /** The deny-list entry's write goes through it: REDIS_WAIT_REPLICAS's WAIT. */
    private readonly confirmed: ConfirmedWrite = (write) => write(),
  ) {
    this.key = new TextEncoder().encode(secret); // at least 32 characters: 256 bits for HS256
    // Loaded here, not at the top: only the jwt design signs tokens, and jose would add about
    // 40 ms of CPU to every other server's start (measured), which the lab pays a few hundred times.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS, loaded on first use
    this.jose = require("jose") as typeof Jose;
    this.ttlSeconds = lifetimes.ttlSeconds;
    this.maxAgeSeconds = lifetimes.maxAgeSeconds;
  }

  /** Signs a token for a user who has just proved who they are; its lifetime is fixed now. */
  async issue({ username, userId }: Identity): Promise<string> {
    // The subject is the immutable id, not the name: after a store wipe someone else may
    // register the name, and this token must not reach their files.
    return new this.jose.SignJWT({ name: username })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(userId)
      .setJti(randomBytes(16).toString("hex"))
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** Checks the Authorization header: signature, expiry, then the deny-list. */
  async verify(authorization: string | undefined): Promise<VerifiedToken> {
    const token = await this.verifySignature(authorization);
    await this.checkNotRevoked(token);
    return token;
  }

  /** The signature and expiry alone: no store is asked. */
  async verifySignature(authorization: string | undefined): Promise<VerifiedToken> {
    if (!authorization) {
      throw new ApiError(
        401,
        "missing_credentials",
        "log in with POST /api/login and send Authorization: Bearer <token>",
      );
    }
    const token = BEARER.exec(authorization.trim())?.[1];
    if (!token) throw new ApiError(401, "invalid_token", "the Authorization header is not Bearer <JWT>");
    let verified: VerifiedToken;
    try {
      // Only HS256: a token that names another algorithm, or `none`, is refused outright.
      const { payload } = await this.jose.jwtVerify(token, this.key, { algorithms: ["HS256"] });
      if (
        typeof payload.sub !== "string" ||
        typeof payload.jti !== "string" ||
        typeof payload.exp !== "number" ||
        typeof payload.iat !== "number"
      ) {
        throw new ApiError(401, "invalid_token", "the token lacks sub, jti, iat or exp");
      }
      // Its exp is whatever the signer wrote: its age is ours to bound. A token issued in the
      // future (beyond a minute of clock skew) or longer ago than JWT_MAX_AGE was not issued by
      // this server as it runs now, whoever holds the secret.
      const age = Date.now() / 1000 - payload.iat;
      if (age < -MAX_CLOCK_SKEW_SECONDS)
        throw new ApiError(401, "invalid_token", "the token says it was issued in the future");
      if (age > this.maxAgeSeconds)
        throw new ApiError(
          401,
          "invalid_token",
          `the token is older than ${this.maxAgeSeconds} s (JWT_MAX_AGE); log in again`,
        );
      verified = {
        userId: payload.sub,
        username: typeof payload.name === "string" ? payload.name : payload.sub,
        jti: payload.jti,
        expiresAt: payload.exp,
      };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof this.jose.errors.JWTExpired)
        throw new ApiError(401, "token_expired", "the token has expired; log in again");
      throw new ApiError(401, "invalid_token", "the token is not valid (bad signature, bad format or algorithm)");
    }
    return verified;
  }

  /** The deny-list: 401 token_revoked for a logged-out token; a store error is a 503, never a pass. */
  async checkNotRevoked(token: VerifiedToken): Promise<void> {
    if ((await guardRedis("check the deny-list", () => this.client.exists(this.revokedKey(token.jti)))) === 1) {
      throw new ApiError(401, "token_revoked", "this token was logged out; log in again");
    }
  }

  /** Logout: deny the token until it would have expired anyway, then Redis forgets it. */
  async revoke(token: VerifiedToken): Promise<void> {
    const remaining = Math.max(1, token.expiresAt - Math.floor(Date.now() / 1000));
    await guardRedis("revoke a token", () =>
      this.confirmed(() => this.client.set(this.revokedKey(token.jti), "1", "EX", remaining)),
    );
  }

  private revokedKey(jti: string): string {
    return `${this.prefix}revoked:${jti}`;
  }
}
