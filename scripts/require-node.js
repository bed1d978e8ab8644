// Every npm script of the lab starts here: on a Node older than package.json's "engines"
// allows, it stops with one line that says what to install, before TypeScript or a dependency
// fails with an error that says nothing about the version. Plain old JavaScript on purpose:
// it must run on the old Node it refuses.
"use strict";
var wanted = Number(/(\d+)/.exec(require("../package.json").engines.node)[1]);
var major = Number(process.versions.node.split(".")[0]);
if (major < wanted) {
  console.error(
    "This lab needs Node.js " +
      wanted +
      " or newer, and this is Node " +
      process.versions.node +
      ": install Node 22 or 24 (https://nodejs.org/, or nvm install 24), then run the command again.",
  );
  process.exit(1);
}
