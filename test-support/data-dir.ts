// Reads a phase-1 DATA_DIR the way a student would with `ls`: what each user's records name,
// the content files no record names, what is left in tmp/ and in locks/. Plumbing, not a
// lesson: the tests that use it are cited in docs/api-reference.md ("POST /api/upload").

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface DataDirContents {
  /** Metadata records, all users together, and the bytes they say they hold. */
  records: number;
  bytes: number;
  /** Every `.content` file, and those of them that no record names (a crash's or a failed write's). */
  contentFiles: number;
  orphans: string[];
  /** Records a record names whose content file is missing (never expected). */
  missingContent: string[];
  tmp: string[];
  claims: string[];
}

function list(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

export function readDataDir(dataDir: string): DataDirContents {
  const contents: DataDirContents = {
    records: 0,
    bytes: 0,
    contentFiles: 0,
    orphans: [],
    missingContent: [],
    tmp: list(path.join(dataDir, "tmp")),
    claims: list(path.join(dataDir, "locks")).flatMap((owner) =>
      list(path.join(dataDir, "locks", owner)).map((name) => `${owner}/${name}`),
    ),
  };
  for (const owner of list(path.join(dataDir, "files"))) {
    const dir = path.join(dataDir, "files", owner);
    const names = list(dir);
    const named = new Set<string>();
    for (const name of names.filter((each) => each.endsWith(".json"))) {
      const record = JSON.parse(readFileSync(path.join(dir, name), "utf8")) as { size: number; content_file?: string };
      contents.records += 1;
      contents.bytes += record.size;
      if (record.content_file) {
        named.add(record.content_file);
        if (!names.includes(record.content_file)) contents.missingContent.push(`${owner}/${record.content_file}`);
      }
    }
    const content = names.filter((name) => name.endsWith(".content"));
    contents.contentFiles += content.length;
    contents.orphans.push(...content.filter((name) => !named.has(name)).map((name) => `${owner}/${name}`));
  }
  return contents;
}
