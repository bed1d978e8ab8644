// The order of the suite's files on two workers (test-support/machine-lock-environment.js):
// the longest exclusive file (the survival matrix, about 100 s) first, so that one worker runs it from the first second while the
// other works through the light files; then the shared files, which pair up once it is done;
// then the other exclusive ones. Two locked files at the front would leave a worker waiting.
// Jest's own record of each file's time cannot choose the first: it counts the wait for the lock.

const { readFileSync } = require("node:fs");
const Sequencer = require("@jest/test-sequencer").default;

const LONGEST = "survival-matrix.test.ts";

function lock(test) {
  const head = readFileSync(test.path, "utf8").slice(0, 2000);
  if (!/@jest-environment\s+\S*machine-lock-environment/.test(head)) return "none";
  return /@machine-lock\s+shared/.test(head) ? "shared" : "exclusive";
}

class MachineLockSequencer extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests); // failed first, then slowest first (Jest's cache), else largest
    const of = (kind) => sorted.filter((test) => lock(test) === kind);
    const exclusive = of("exclusive").sort(
      (a, b) => Number(b.path.endsWith(LONGEST)) - Number(a.path.endsWith(LONGEST)),
    );
    return [...exclusive.slice(0, 1), ...of("none"), ...of("shared"), ...exclusive.slice(1)];
  }
}

module.exports = MachineLockSequencer;
