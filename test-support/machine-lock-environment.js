// The suite runs on two Jest workers, but some test files need the machine more than a unit
// test does. A file says so in its first docblock:
//
//   /**
//    * @jest-environment ./test-support/machine-lock-environment.js
//    * @machine-lock exclusive
//    */
//
// `exclusive`: it loads every core (the survival matrix, the benchmark, the lab's own cells),
// so it runs with no other locked file beside it. `shared`: it waits on real timers (a
// Sentinel's failover, the live view's 3 s) but uses little CPU, so two such files may run
// together, never beside an exclusive one. Light files, without the pragma, run beside anything.
//
// The lock is two slots, one per worker, each a directory (mkdir is atomic) holding its
// holder's pid: shared takes one slot, exclusive both, always in slot order (so two exclusive
// files cannot each hold one slot and wait for the other). A slot whose holder died (a worker
// killed on a timeout) is taken over, so a crash cannot leave the rest of the suite waiting.

const { mkdirSync, readFileSync, rmSync, writeFileSync } = require("node:fs");
const path = require("node:path");
const { TestEnvironment } = require("jest-environment-node");

const SLOTS = 2; // jest.config.js's maxWorkers
const POLL_MS = 200;

function holderAlive(slot) {
  let pid;
  try {
    pid = Number(readFileSync(path.join(slot, "holder"), "utf8").split(" ")[0]);
  } catch {
    return true; // the holder is still writing its pid
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === "EPERM";
  }
}

/** Takes the slot if it is free (or its holder died): true when taken. */
function tryTake(slot, holder) {
  try {
    mkdirSync(slot);
  } catch (error) {
    if (error.code !== "EEXIST") throw error;
    if (holderAlive(slot)) return false;
    rmSync(slot, { recursive: true, force: true });
    return tryTake(slot, holder);
  }
  writeFileSync(path.join(slot, "holder"), holder);
  return true;
}

const pause = () => new Promise((resolve) => setTimeout(resolve, POLL_MS));

class MachineLockEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.holder = `${process.pid} ${context.testPath}`;
    this.mode = context.docblockPragmas["machine-lock"] === "shared" ? "shared" : "exclusive";
    this.held = [];
  }

  async setup() {
    // jest.global-setup.js makes the folder once per `npm test`; a file run without it locks nothing.
    const dir = process.env.JEST_MACHINE_LOCK_DIR;
    const slots = dir ? Array.from({ length: SLOTS }, (_, i) => path.join(dir, `slot-${i + 1}`)) : [];
    if (this.mode === "exclusive") {
      for (const slot of slots) {
        while (!tryTake(slot, this.holder)) await pause();
        this.held.push(slot);
      }
    } else if (slots.length > 0) {
      for (;;) {
        const free = slots.find((slot) => tryTake(slot, this.holder));
        if (free) {
          this.held.push(free);
          break;
        }
        await pause();
      }
    }
    await super.setup();
  }

  async teardown() {
    try {
      await super.teardown();
    } finally {
      for (const slot of this.held) rmSync(slot, { recursive: true, force: true });
    }
  }
}

module.exports = MachineLockEnvironment;
