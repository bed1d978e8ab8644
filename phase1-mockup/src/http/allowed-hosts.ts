// Which names a server answers to (ALLOWED_HOSTS, docs/api-reference.md, "Environment
// variables"). A browser sends the name it looked up in `Host`: a page on evil.example whose
// name is made to resolve to 127.0.0.1 (DNS rebinding) reaches a loopback server with
// `Host: evil.example`, and a server that answers any name answers that page too. The servers
// and the built-in balancer answer only the names they were told, 421 misdirected_request
// otherwise.

/** One allowed name: a host, and a port when the entry named one (any port otherwise). */
export interface AllowedHost {
  host: string;
  port?: string;
}

/** Loopback under each of its names, on any port: what the lab and a student's browser use. */
export const DEFAULT_ALLOWED_HOSTS = "127.0.0.1,localhost,[::1]";

// A name (letters, digits, dots, hyphens, underscores as container names have), an IPv4
// address, or an IPv6 address in brackets; then an optional port.
const HOST_PATTERN = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/;

/** Splits a Host header (or an entry of the list) into its name and port; undefined when it is neither. */
export function parseHost(text: string): AllowedHost | undefined {
  const match = HOST_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return { host: match[1].toLowerCase().replace(/\.$/, ""), port: match[2] };
}

/**
 * Reads the comma list: `*` alone allows every name (a deployment whose clients use names
 * nobody can list in advance); otherwise each entry is a name with or without a port.
 * Throws an Error naming the entry that is neither.
 */
export function parseAllowedHosts(text: string): AllowedHost[] | "*" {
  if (text.trim() === "*") return "*";
  return text.split(",").map((entry) => {
    const parsed = parseHost(entry);
    if (!parsed) throw new Error(`${JSON.stringify(entry.trim())} is not a host name or host:port`);
    return parsed;
  });
}

/** True when the Host header names an allowed host (and port, when the entry has one). */
export function isAllowedHost(header: string | undefined, allowed: AllowedHost[] | "*"): boolean {
  if (allowed === "*") return true;
  const asked = header === undefined ? undefined : parseHost(header);
  if (!asked) return false;
  return allowed.some((entry) => entry.host === asked.host && (entry.port === undefined || entry.port === asked.port));
}
