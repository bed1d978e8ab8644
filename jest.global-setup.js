// The test suite writes the lab's and the bench's reports to a throw-away folder, so that
// `npm test` never overwrites the reports/ of a student's own `npm run lab` or `npm run bench`.
// Test workers and the processes they spawn inherit LAB_REPORTS_DIR, and JEST_MACHINE_LOCK_DIR,
// where test-support/machine-lock-environment.js keeps the lock of the files that need the machine.
const { mkdtempSync } = require("node:fs");
const os = require("node:os");
const path = require("node:path");

module.exports = async () => {
  process.env.LAB_REPORTS_DIR = mkdtempSync(path.join(os.tmpdir(), "lab-test-reports-"));
  process.env.JEST_MACHINE_LOCK_DIR = mkdtempSync(path.join(os.tmpdir(), "lab-test-lock-"));
};
