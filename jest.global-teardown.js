// Removes the throw-away reports folder of jest.global-setup.js.
const { rmSync } = require("node:fs");

module.exports = async () => {
  if (process.env.LAB_REPORTS_DIR) rmSync(process.env.LAB_REPORTS_DIR, { recursive: true, force: true });
};
