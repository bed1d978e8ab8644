// Registering and authenticating users, the same in every design. What differs between the
// designs is only how often authenticate() runs: on every request (stateless), or once per
// session (stateful, and phase 2's logins). See docs/concepts.md, "Stateless trade-offs".

import { randomBytes } from "node:crypto";
import { DataStore, UserRecord } from "./data-store";
import { ApiError } from "./errors";
import { checkPassword, hashPassword } from "./passwords";
import { isValidUsername, requireObject, validatePassword, validateUsername } from "./validation";

/** Who a request is: the name it logged in with, and the immutable id its data is kept under. */
export interface Identity {
  username: string;
  userId: string;
}

export class UserService {
  private readonly dummyHash: Promise<string>;

  constructor(
    private readonly store: DataStore,
    private readonly passwordHashCost: number,
  ) {
    // Made now, at start: made on first use, the first unknown-user login would be slower than
    // the others, and that difference would tell an attacker the name is unknown.
    this.dummyHash = hashPassword("not-a-real-password", passwordHashCost);
  }

  /** Validates and stores a new user; 409 `user_exists` when the name is taken. */
  async register(body: unknown): Promise<{ username: string }> {
    const input = requireObject(body);
    const username = validateUsername(input.username);
    const password = validatePassword(input.password);
    const user: UserRecord = {
      user_id: randomBytes(16).toString("hex"),
      username,
      password_hash: await hashPassword(password, this.passwordHashCost),
      created_at: new Date().toISOString(),
    };
    if (!(await this.store.createUser(user))) {
      throw new ApiError(409, "user_exists", `username ${username} is already taken`);
    }
    return { username };
  }

  /** Validates a login body, then authenticates it; 401 `invalid_credentials` on a mismatch. */
  async login(body: unknown): Promise<Identity> {
    const input = requireObject(body);
    validateUsername(input.username);
    validatePassword(input.password);
    return this.authenticate(input.username as string, input.password as string);
  }

  /** The user's identity when the password matches; otherwise 401 `invalid_credentials`. */
  async authenticate(username: string, password: string): Promise<Identity> {
    const user = isValidUsername(username) ? await this.store.getUser(username) : null;
    // An unknown user still costs one hash, so the answer's timing does not reveal which names exist.
    const hash = user?.password_hash ?? (await this.dummyHash);
    const outcome = await checkPassword(password, hash);
    if (!user || outcome === "mismatch")
      throw new ApiError(401, "invalid_credentials", "username or password is wrong");
    if (outcome === "match-unnormalised") {
      // Hashed before passwords were normalised: hash the NFC form now, once. A failure to
      // store it costs only the second comparison next time, never this login.
      const rehashed = { ...user, password_hash: await hashPassword(password, this.passwordHashCost) };
      await this.store.replaceUser(rehashed).catch(() => undefined);
    }
    return { username: user.username, userId: user.user_id ?? user.username };
  }
}
