// The docs check: the documentation cannot drift from the code. Every `npm run X` in the
// README and the docs names a real script, every relative link leads to a file, every error
// code the API answers is in docs/api-reference.md, and the routes that page lists are
// exactly the routes each design's app registers (read from Express's own router). The page
// explains its table convention in "Endpoints at a glance".

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Express } from "express";
import { removeTempDirs } from "../../test-support/temp-dir";
import { statefulApp, statelessApp } from "../../test-support/phase1-apps";
import { connected, phase2App, useStores } from "../../test-support/phase2-apps";
import { PHASE2_DESIGNS } from "../../phase2-production/src/operations/config";
import { REPO_ROOT } from "../processes/run-dir";

const API_REFERENCE = path.join(REPO_ROOT, "docs", "api-reference.md");
const DESIGNS = ["stateless", "stateful", ...PHASE2_DESIGNS] as const;

/** The lab's error codes and their statuses, written out on purpose: checked below against the source. */
const SPEC_ERRORS: [status: number, code: string][] = [
  [400, "invalid_json"],
  [400, "validation_error"],
  [401, "missing_credentials"],
  [401, "invalid_credentials"],
  [401, "missing_session"],
  [401, "session_not_found"],
  [401, "session_expired"],
  [401, "invalid_token"],
  [401, "token_expired"],
  [401, "token_revoked"],
  [404, "not_found"],
  [409, "user_exists"],
  [413, "payload_too_large"],
  [413, "quota_exceeded"],
  [415, "unsupported_media_type"],
  [421, "misdirected_request"],
  [429, "too_many_requests"],
  [503, "store_unavailable"],
  [503, "database_unavailable"],
  [503, "draining"],
  [507, "insufficient_storage"],
];
/** The one code beyond that list: a bug's 500, which no test should ever see. */
const CODES_BEYOND_SPEC = ["internal_error"];

// ---------------------------------------------------------------------------------------------
// Reading the Markdown files

/** The README, phase 2's README, and every Markdown file under docs/, as repository paths. */
function markdownFiles(): string[] {
  const files = ["README.md", path.join("phase2-production", "README.md")];
  const walk = (dir: string): void => {
    if (!existsSync(path.join(REPO_ROOT, dir))) return;
    for (const entry of readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true })) {
      const relative = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (entry.name.endsWith(".md")) files.push(relative);
    }
  };
  walk("docs");
  return files.sort();
}

function read(file: string): string {
  return readFileSync(path.join(REPO_ROOT, file), "utf8");
}

/** The text outside fenced code blocks, line by line (code blocks become empty lines). */
function proseLines(markdown: string): string[] {
  let fence: string | undefined;
  return markdown.split("\n").map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      return "";
    }
    return fence === undefined ? line : "";
  });
}

/** A prose line without its inline code spans: `[x](y)` inside backticks is not a link. */
function withoutCodeSpans(line: string): string {
  return line.replace(/(`+)(?:(?!\1).)+?\1/g, "");
}

// ---------------------------------------------------------------------------------------------
// npm scripts

/** Every script a text asks to run: `npm run X` (flags before or after X), `npm test`, `npm start`. */
function scriptsNamedIn(text: string): string[] {
  const names: string[] = [];
  for (const match of text.matchAll(/\bnpm\s+run((?:\s+--?[a-z][a-z-]*)*)\s+([A-Za-z0-9:_.-]+)/g)) {
    const name = match[2];
    if (/^[A-Z]$/.test(name)) continue; // a placeholder such as `npm run X`: scripts are lower case
    names.push(name);
  }
  for (const match of text.matchAll(/\bnpm\s+(test|start|stop|restart)\b/g)) names.push(match[1]);
  return names;
}

// ---------------------------------------------------------------------------------------------
// Links

/** Every link target outside code: inline links, images and reference definitions. */
function linkTargets(markdown: string): { line: number; target: string }[] {
  const targets: { line: number; target: string }[] = [];
  proseLines(markdown).forEach((raw, index) => {
    const line = withoutCodeSpans(raw);
    for (const match of line.matchAll(/!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g)) {
      targets.push({ line: index + 1, target: match[1].replace(/^<|>$/g, "") });
    }
    const definition = /^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
    if (definition) targets.push({ line: index + 1, target: definition[1].replace(/^<|>$/g, "") });
  });
  return targets;
}

/** The file a relative link points to, or undefined for web links and pure anchors. */
function linkedFile(fromFile: string, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("#") || target.startsWith("//")) return undefined;
  const withoutAnchor = decodeURIComponent(target.replace(/[#?].*$/, ""));
  if (withoutAnchor === "") return undefined;
  return withoutAnchor.startsWith("/")
    ? path.join(REPO_ROOT, withoutAnchor)
    : path.resolve(REPO_ROOT, path.dirname(fromFile), withoutAnchor);
}

// ---------------------------------------------------------------------------------------------
// Routes: documented and registered

/** The part of Express 5's router that the check reads (the `router` package's Layer and Route). */
interface RouterLayer {
  route?: { path: string | RegExp | (string | RegExp)[]; methods: Record<string, boolean | undefined> };
  handle: unknown;
  rawPath?: unknown;
}

function pathText(routePath: string | RegExp): string {
  return routePath instanceof RegExp ? "*" : routePath; // a pattern route answers any path
}

/** `METHOD /path` for every route of a router, nested routers included; `*` for a pattern path. */
function registeredRoutes(stack: RouterLayer[], prefix = ""): Set<string> {
  const routes = new Set<string>();
  for (const layer of stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      const methods = Object.keys(layer.route.methods).filter((method) => layer.route?.methods[method]);
      for (const method of methods) {
        for (const routePath of paths)
          routes.add(`${method === "_all" ? "ALL" : method.toUpperCase()} ${prefix}${pathText(routePath)}`);
      }
      continue;
    }
    const nested = (layer.handle as { stack?: unknown }).stack;
    if (!Array.isArray(nested)) continue; // plain middleware, not a router
    const mount = layer.rawPath; // the path given to app.use() (router 2.3 and later)
    if (mount === undefined)
      throw new Error("this version of Express's router does not say where a router is mounted (layer.rawPath)");
    if (typeof mount !== "string")
      throw new Error(`a router is mounted on a pattern (${String(mount)}): the docs check cannot name its routes`);
    for (const route of registeredRoutes(nested as RouterLayer[], prefix + (mount === "/" ? "" : mount)))
      routes.add(route);
  }
  return routes;
}

function routesOf(app: Express): Set<string> {
  return registeredRoutes(app.router.stack as unknown as RouterLayer[]);
}

const ENDPOINT_CELL = /^`([A-Z]+) (\S+)`$/;

function tableCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split("|")
    .map((cell) => cell.trim());
}

/**
 * The table under "## Endpoints at a glance": one row per endpoint, `` `METHOD /path` `` first,
 * then one column per design saying `yes` (the design registers it) or `no`.
 */
function documentedRoutes(markdown: string): Map<string, Set<string>> {
  const lines = proseLines(markdown);
  const start = lines.findIndex((line) => /^##\s+Endpoints at a glance\s*$/.test(line));
  if (start < 0) throw new Error('docs/api-reference.md has no "## Endpoints at a glance" section');
  const tableStart = lines.findIndex((line, index) => index > start && line.trim().startsWith("|"));
  const table: string[] = [];
  for (let index = tableStart; index >= 0 && index < lines.length && lines[index].trim().startsWith("|"); index += 1)
    table.push(lines[index]);
  const header = tableCells(table[0] ?? "")
    .slice(1)
    .map((cell) => cell.replace(/`/g, ""));
  expect(header).toEqual([...DESIGNS]);

  const byDesign = new Map<string, Set<string>>(DESIGNS.map((design) => [design, new Set<string>()]));
  for (const row of table.slice(2)) {
    const [endpoint, ...cells] = tableCells(row);
    const match = ENDPOINT_CELL.exec(endpoint);
    if (!match)
      throw new Error(`cannot read the endpoint cell ${JSON.stringify(endpoint)}: write it as \`METHOD /path\``);
    cells.forEach((cell, column) => {
      if (!/^(yes|no)\b/.test(cell))
        throw new Error(`${endpoint}, ${header[column]}: write yes or no, not ${JSON.stringify(cell)}`);
      if (cell.startsWith("yes")) byDesign.get(header[column])?.add(`${match[1]} ${match[2]}`);
    });
  }
  return byDesign;
}

function difference(left: Set<string>, right: Set<string>): string[] {
  return [...left].filter((item) => !right.has(item)).sort();
}

// ---------------------------------------------------------------------------------------------

describe("the docs check", () => {
  const files = markdownFiles();
  const apiReference = existsSync(API_REFERENCE) ? readFileSync(API_REFERENCE, "utf8") : "";

  it("finds the README, phase 2's README and the API reference among the Markdown files it checks", () => {
    expect(files).toEqual(
      expect.arrayContaining([
        "README.md",
        path.join("phase2-production", "README.md"),
        path.join("docs", "api-reference.md"),
      ]),
    );
  });

  it("names only npm scripts that package.json defines", () => {
    const scripts = Object.keys(JSON.parse(read("package.json")).scripts);
    const unknown = files.flatMap((file) =>
      scriptsNamedIn(read(file))
        .filter((name) => !scripts.includes(name))
        .map((name) => `${file}: npm run ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it("reads `npm run X -- --flag` and `npm run X --silent` as the script X, and skips a placeholder", () => {
    expect(
      scriptsNamedIn(
        "npm run lab -- --design jwt; npm run lab --silent -- --json; npm run --silent bench; npm run X; npm test",
      ),
    ).toEqual(["lab", "lab", "bench", "test"]);
  });

  it("has every relative link lead to a file or folder of the repository", () => {
    const broken = files.flatMap((file) =>
      linkTargets(read(file))
        .filter(({ target }) => {
          const linked = linkedFile(file, target);
          return linked !== undefined && !existsSync(linked);
        })
        .map(({ line, target }) => `${file}:${line}: ${target}`),
    );
    expect(broken).toEqual([]);
  });

  it("does not read links inside code, and keeps the file part of a link with an anchor", () => {
    const markdown = [
      "[a](a.md#part) `[b](b.md)` [web](https://example.com) [here](#top)",
      "```",
      "[c](c.md)",
      "```",
      "[d]: <d.md>",
    ].join("\n");
    expect(linkTargets(markdown).map(({ target }) => target)).toEqual([
      "a.md#part",
      "https://example.com",
      "#top",
      "d.md",
    ]);
    expect(linkedFile("docs/x.md", "a.md#part")).toBe(path.join(REPO_ROOT, "docs", "a.md"));
    expect(linkedFile("docs/x.md", "https://example.com")).toBeUndefined();
    expect(linkedFile("docs/x.md", "#top")).toBeUndefined();
  });

  it("keeps its list of error codes equal to the codes the source declares and uses", () => {
    const errorsModule = read(path.join("phase1-mockup", "src", "domain", "errors.ts"));
    const union = /export type ErrorCode =([^;]+);/.exec(errorsModule)?.[1] ?? "";
    const declared = [...union.matchAll(/"([a-z_]+)"/g)].map((match) => match[1]);
    expect(declared.sort()).toEqual([...SPEC_ERRORS.map(([, code]) => code), ...CODES_BEYOND_SPEC].sort());

    // Every code answered anywhere in the apps (ApiError(status, "code"), or a hand-written
    // `error: "code"` body) is one of them, and every code of the list is answered somewhere.
    const sources = ["phase1-mockup/src", "phase2-production/src"].flatMap((dir) => {
      const found: string[] = [];
      const walk = (relative: string): void => {
        for (const entry of readdirSync(path.join(REPO_ROOT, relative), { withFileTypes: true })) {
          const child = path.join(relative, entry.name);
          if (entry.isDirectory()) walk(child);
          else if (entry.name.endsWith(".ts")) found.push(read(child));
        }
      };
      walk(dir);
      return found;
    });
    const answered = new Map<string, Set<number>>();
    for (const source of sources) {
      for (const match of source.matchAll(/ApiError\(\s*(\d{3}),\s*"([a-z_]+)"/g)) {
        answered.set(match[2], (answered.get(match[2]) ?? new Set()).add(Number(match[1])));
      }
      for (const match of source.matchAll(/\berror: "([a-z_]+)"/g))
        answered.set(match[1], answered.get(match[1]) ?? new Set());
    }
    expect([...answered.keys()].filter((code) => !declared.includes(code))).toEqual([]);
    expect(SPEC_ERRORS.map(([, code]) => code).filter((code) => !answered.has(code))).toEqual([]);
    const wrongStatus = SPEC_ERRORS.filter(
      ([status, code]) => (answered.get(code)?.size ?? 0) > 0 && !answered.get(code)?.has(status),
    );
    expect(
      wrongStatus.map(
        ([status, code]) => `${code}: the list says ${status}, the source says ${[...(answered.get(code) ?? [])]}`,
      ),
    ).toEqual([]);
  });

  it("lists every error code in the API reference's error table, with its status", () => {
    const tableRows = proseLines(apiReference).filter((line) => line.trim().startsWith("|"));
    const missing = [...SPEC_ERRORS, [500, "internal_error"] as [number, string]]
      .filter(
        ([status, code]) =>
          !tableRows.some((row) => row.includes(`\`${code}\``) && tableCells(row).includes(String(status))),
      )
      .map(([status, code]) => `${status} ${code}`);
    expect(missing).toEqual([]);
  });

  describe("the routes of docs/api-reference.md", () => {
    const redis = useStores();
    afterAll(removeTempDirs);

    async function appsByDesign(): Promise<Map<string, Express>> {
      const apps = new Map<string, Express>([
        ["stateless", statelessApp()],
        ["stateful", statefulApp().app],
      ]);
      for (const design of PHASE2_DESIGNS) apps.set(design, (await connected(phase2App(design, redis().url))).app);
      return apps;
    }

    it("are, design by design, exactly the routes each app registers", async () => {
      const documented = documentedRoutes(apiReference);
      const mismatches: string[] = [];
      for (const [design, app] of await appsByDesign()) {
        const registered = routesOf(app);
        const listed = documented.get(design) ?? new Set<string>();
        const missing = difference(registered, listed);
        const extra = difference(listed, registered);
        if (missing.length > 0) mismatches.push(`${design}: registered but not documented: ${missing.join(", ")}`);
        if (extra.length > 0) mismatches.push(`${design}: documented but not registered: ${extra.join(", ")}`);
      }
      expect(mismatches).toEqual([]);
    });

    it("each have a section of their own, headed `### METHOD /path`", () => {
      const headings = new Set(
        proseLines(apiReference).flatMap((line) => /^###\s+`?([A-Z]+ \S+?)`?\s*$/.exec(line)?.[1] ?? []),
      );
      const routes = new Set([...documentedRoutes(apiReference).values()].flatMap((set) => [...set]));
      expect([...routes].filter((route) => !headings.has(route)).sort()).toEqual([]);
    });

    it("reads routes from nested routers and pattern paths, as the apps register them", () => {
      const routes = routesOf(statelessApp());
      expect(routes).toContain("GET /health"); // on the app itself
      expect(routes).toContain("DELETE /api/files/:id"); // in the files router, mounted with app.use()
      expect(routes).toContain("OPTIONS *"); // app.options(/.*/): every path
    });
  });
});
