// This process's TCP connections, read from /proc as the kernel sees them: what a keep-alive
// pool really holds open, independent of the pool's own bookkeeping.
import { readdir, readFile, readlink } from "node:fs/promises";

/**
 * The inodes of the sockets process `pid` (default this one) has open: its /proc/<pid>/fd entries
 * that link to `socket:[inode]`. Entries closed while being read are skipped.
 */
export async function socketInodes(pid: number | "self" = "self"): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => "");
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]!);
  }
  return inodes;
}

/**
 * The number of ESTABLISHED TCP connections this process has open to `port` on any address
 * (IPv4 and IPv6): the socket inodes of /proc/self/fd matched against /proc/net/tcp and tcp6.
 */
export async function establishedTo(port: number): Promise<number> {
  const inodes = await socketInodes();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(table, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[2]!.endsWith(`:${hexPort}`) && f[3] === "01" && inodes.has(f[9]!)) n++;
    }
  }
  return n;
}
