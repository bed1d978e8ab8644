// The nemesis: the faults of each scenario, done to real processes with real signals
// (docs/how-the-lab-works.md, "The scenarios"). Each fault resolves once it has healed: the
// restarted instance answers /ready, or Redis is back and every instance answers /ready again
// (sticky-failover heals at once: its victim stays down).

import { isReady, sleep } from "../processes/managed-process";
import { RedisServer } from "../processes/redis";
import { ReplicatedRedis } from "../processes/replicated-redis";
import { ServerInstance } from "../processes/server-instance";
import { Scenario, SETUPS } from "./scenarios";

export interface Target {
  instances: ServerInstance[];
  redis?: RedisServer;
  /** The store scenarios on replicated Redis: a primary, two replicas, three Sentinels. */
  replicated?: ReplicatedRedis;
  /** For sticky-failover: the instance each user was last served by. */
  lastServedBy: () => Array<string | undefined>;
}

const STORE_OUTAGE_MS = 3000;
const FREEZE_MS = 5000;

/** Waits until every running instance answers /ready again (after Redis came back). */
async function instancesReady(instances: ServerInstance[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const instance of instances.filter((candidate) => candidate.running)) {
    while (!(await isReady(instance.url)) && Date.now() < deadline) await sleep(20);
  }
}

/** The replicated store and its current primary, as every Sentinel names it. */
async function primaryOf(target: Target): Promise<{ replicated: ReplicatedRedis; old: RedisServer }> {
  const replicated = target.replicated;
  if (!replicated) throw new Error("replicated-store scenario without a replicated Redis");
  await replicated.sentinelsConnected();
  const old = await replicated.agreedPrimary();
  if (!old) throw new Error("the Sentinels do not agree on a primary before the fault");
  return { replicated, old };
}

/** Does the scenario's fault; resolves with what was done, once it has healed. */
export async function runFault(scenario: Scenario, target: Target): Promise<string> {
  const [first] = target.instances;
  switch (SETUPS[scenario].fault) {
    case "none":
      return "no fault";
    case "restart":
      await first.stop();
      await first.start();
      return `SIGTERM ${first.serverId}, started again on port ${first.port}`;
    case "crash":
      await first.kill();
      await first.start();
      return `SIGKILL ${first.serverId}, started again on port ${first.port}`;
    case "kill-busiest": {
      const counts = new Map<string, number>();
      for (const id of target.lastServedBy()) if (id) counts.set(id, (counts.get(id) ?? 0) + 1);
      const busiest = [...target.instances].sort((a, b) => (counts.get(b.serverId) ?? 0) - (counts.get(a.serverId) ?? 0))[0];
      await busiest.kill();
      return `SIGKILL ${busiest.serverId}, which held ${counts.get(busiest.serverId) ?? 0} users; it stays down`;
    }
    case "rolling":
      for (const instance of target.instances) {
        await instance.stop();
        await instance.start();
      }
      return `restarted ${target.instances.map((instance) => instance.serverId).join(", ")} in turn (SIGTERM, start, /ready)`;
    case "store-restart":
      if (!target.redis) throw new Error("store scenario without Redis");
      await target.redis.stop();
      await target.redis.start();
      await instancesReady(target.instances);
      return `SIGTERM Redis, started again at once on port ${target.redis.port}`;
    case "store-outage":
      if (!target.redis) throw new Error("store scenario without Redis");
      await target.redis.stop();
      await sleep(STORE_OUTAGE_MS);
      await target.redis.start();
      await instancesReady(target.instances);
      return `SIGTERM Redis, down ${STORE_OUTAGE_MS / 1000} s, started again on port ${target.redis.port}`;
    case "kill-primary": {
      // Healed when every Sentinel names the same new primary and it says it is the master.
      const { replicated, old } = await primaryOf(target);
      await old.kill();
      const next = await replicated.waitForNewPrimary(old);
      await instancesReady(target.instances);
      return `SIGKILL the Redis primary on port ${old.port}; the Sentinels promoted ${next.port}; the old one stays down`;
    }
    case "freeze-primary": {
      // The old primary comes back still a primary, for the clients still connected to it, until a
      // Sentinel's periodic INFO sees it (about 10 s): the heal does not wait for that.
      const { replicated, old } = await primaryOf(target);
      old.freeze();
      await sleep(FREEZE_MS);
      old.resume();
      const next = await replicated.waitForNewPrimary(old);
      await instancesReady(target.instances);
      return `SIGSTOP the Redis primary on port ${old.port} for ${FREEZE_MS / 1000} s, then SIGCONT; the Sentinels promoted ${next.port}`;
    }
  }
}
