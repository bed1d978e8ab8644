// The layout check: the tree keeps the shape a student reads it by. Every source comment that
// sends the reader to `docs/X.md, "Section"` names a heading that exists; scripts/README.md
// has a line for every file of the harness; scripts/ keeps only what every program shares at
// its top; and scripts/designs.ts stays the one place that tells the designs apart.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DESIGNS } from "../designs";
import { REPO_ROOT } from "../processes/run-dir";

/** Every file under `dir` (a repository path) whose name passes `keep`, as repository paths. */
function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(relative, keep));
    else if (keep(entry.name)) found.push(relative);
  }
  return found.sort();
}

const SOURCES = ["phase1-mockup", "phase2-production", "scripts", "test-support"].flatMap((dir) =>
  filesUnder(dir, (name) => name.endsWith(".ts")),
);

/** The comments of a source file, each run of `//` lines joined into one line of text. */
function comments(source: string): string[] {
  const blocks: string[] = [];
  const current: string[] = [];
  for (const line of source.split("\n")) {
    const comment = /^\s*(?:\/\/|\/?\*+\/?)\s?(.*)$/.exec(line) ?? /\/\/\s?(.*)$/.exec(line);
    if (comment) current.push(comment[1].trim());
    else if (current.length) blocks.push(current.splice(0).join(" "));
  }
  if (current.length) blocks.push(current.join(" "));
  return blocks;
}

/** `docs/X.md, "A" and "B"` or `docs/X.md ("A", "B")`: the file and the sections cited. */
function citations(text: string): Array<{ doc: string; sections: string[] }> {
  const found: Array<{ doc: string; sections: string[] }> = [];
  for (const match of text.matchAll(/(docs\/[\w/-]+\.md)(?:,\s*|\s*\()((?:"[^"]+"(?:,\s*|\s+and\s+|\s+or\s+)?)+)/g)) {
    found.push({ doc: match[1], sections: [...match[2].matchAll(/"([^"]+)"/g)].map((quoted) => quoted[1]) });
  }
  return found;
}

/** A heading or a cited section as a reader would match them: case, numbering and code marks aside. */
function normalized(title: string): string {
  return title
    .toLowerCase()
    .replace(/`/g, "")
    .replace(/^\d+\.\s*/, "")
    .replace(/\s+/g, " ")
    .trim();
}

function headings(doc: string): string[] {
  return readFileSync(path.join(REPO_ROOT, doc), "utf8")
    .split("\n")
    .filter((line) => /^#{1,6}\s/.test(line))
    .map((line) => normalized(line.replace(/^#+\s*/, "")));
}

describe("the layout check", () => {
  it("reads a citation the way the source writes them", () => {
    expect(citations('(docs/how-the-lab-works.md, "The figures of a cell" and "The verdicts")')).toEqual([
      { doc: "docs/how-the-lab-works.md", sections: ["The figures of a cell", "The verdicts"] },
    ]);
    expect(citations('docs/api-reference.md ("Errors", "Headers")')).toEqual([
      { doc: "docs/api-reference.md", sections: ["Errors", "Headers"] },
    ]);
  });

  it("finds many citations in the source, so that the next test checks something", () => {
    const count = SOURCES.flatMap((file) =>
      comments(readFileSync(path.join(REPO_ROOT, file), "utf8")).flatMap(citations),
    ).length;
    expect(count).toBeGreaterThan(50);
  });

  it("has every source comment that cites a section of the docs name a heading that exists", () => {
    const broken: string[] = [];
    for (const file of SOURCES.filter((source) => source !== path.join("scripts", "tests", "layout.test.ts"))) {
      for (const { doc, sections } of comments(readFileSync(path.join(REPO_ROOT, file), "utf8")).flatMap(citations)) {
        let titles: string[];
        try {
          titles = headings(doc);
        } catch {
          broken.push(`${file}: ${doc} does not exist`);
          continue;
        }
        for (const section of sections) {
          if (!titles.some((title) => title.startsWith(normalized(section))))
            broken.push(`${file}: ${doc} has no section "${section}"`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it("names every file of scripts/ in scripts/README.md", () => {
    const readme = readFileSync(path.join(REPO_ROOT, "scripts", "README.md"), "utf8");
    const files = filesUnder("scripts", (name) => name.endsWith(".ts") || name.endsWith(".sh")).map((file) =>
      path.relative("scripts", file),
    );
    expect(files.length).toBeGreaterThan(30);
    expect(files.filter((file) => !readme.includes(`](${file})`))).toEqual([]);
  });

  it("keeps at most four source files at the top of scripts/, the ones every program shares", () => {
    const top = readdirSync(path.join(REPO_ROOT, "scripts")).filter((name) => name.endsWith(".ts"));
    expect(top.length).toBeLessThanOrEqual(4);
    expect(top).toEqual(expect.arrayContaining(["designs.ts", "cli.ts"]));
  });

  it("stands alone: no file of the project names the team's contract file, which readers do not have", () => {
    const name = ["lab", "spec"].join("-"); // spelled apart, so that this file does not name it either
    const tracked = execFileSync("git", ["ls-files"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
    expect(tracked.length).toBeGreaterThan(100);
    const naming = tracked.filter((file) => {
      try {
        return readFileSync(path.join(REPO_ROOT, file), "utf8").toLowerCase().includes(name);
      } catch {
        return false; // a file deleted in the working tree
      }
    });
    expect(naming).toEqual([]);
  });

  it("keeps the programs apart: no file of lab/, bench/, demos/ or dashboard/ imports from another of them", () => {
    const programs = ["lab", "bench", "demos", "dashboard"];
    const crossing: string[] = [];
    for (const program of programs) {
      for (const file of filesUnder(path.join("scripts", program), (name) => name.endsWith(".ts"))) {
        for (const match of readFileSync(path.join(REPO_ROOT, file), "utf8").matchAll(/from "\.\.\/(\w+)\//g)) {
          if (programs.includes(match[1]) && match[1] !== program) crossing.push(`${file} imports from ${match[1]}/`);
        }
      }
    }
    expect(crossing).toEqual([]);
  });

  it("tells the designs apart in scripts/designs.ts only: no other file of the harness compares a design's name", () => {
    const names = DESIGNS.join("|");
    const comparison = new RegExp(`(===|!==)\\s*"(${names})"|"(${names})"\\s*(===|!==)|case "(${names})"`);
    const offenders = filesUnder("scripts", (name) => name.endsWith(".ts"))
      .filter((file) => !file.startsWith(path.join("scripts", "tests")) && file !== path.join("scripts", "designs.ts"))
      .filter((file) => comparison.test(readFileSync(path.join(REPO_ROOT, file), "utf8")));
    expect(offenders).toEqual([]);
  });
});
