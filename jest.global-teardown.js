// Removes the throw-away folders of jest.global-setup.js.
const { rmSync } = require("node:fs");

module.exports = async () => {
  for (const dir of [process.env.LAB_REPORTS_DIR, process.env.JEST_MACHINE_LOCK_DIR])
    if (dir) rmSync(dir, { recursive: true, force: true });
};
