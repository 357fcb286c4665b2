// Short, bounded messages about many clusters: conditions and Events name a few clusters and how
// many more; the per-cluster detail lives in status.clusters[] (a condition message of 12 KB, one
// line per cluster, was unreadable and made every status write large).

export interface ClusterProblem {
  cluster: string;
  message: string;
}

/** Distinct problems named in one message at most. */
export const MAX_PROBLEMS = 3;
/** Clusters named per problem at most. */
export const MAX_NAMES = 3;
/** Characters of one problem's text at most. */
export const MAX_PROBLEM_CHARS = 400;
/** Characters of the whole summary at most (an Event message may have 1 KiB). */
export const MAX_SUMMARY_CHARS = 1000;

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

function names(clusters: readonly string[]): string {
  const shown = clusters.slice(0, MAX_NAMES).join(", ");
  const more = clusters.length - MAX_NAMES;
  return `${clusters.length === 1 ? "cluster" : "clusters"} ${shown}${more > 0 ? ` and ${more} more` : ""}`;
}

/** Problems grouped by their text, in order of first appearance. */
export function groupProblems(items: readonly ClusterProblem[]): { message: string; clusters: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const { cluster, message } of items) {
    const list = groups.get(message);
    if (list) list.push(cluster);
    else groups.set(message, [cluster]);
  }
  return [...groups].map(([message, clusters]) => ({ message, clusters }));
}

/**
 * "<problem> (clusters a, b, c and 7 more); <problem> (cluster d); 2 more problem(s) on 5 cluster(s)".
 * At most MAX_SUMMARY_CHARS characters however many clusters there are. Empty input gives "".
 */
export function summarize(items: readonly ClusterProblem[]): string {
  const groups = groupProblems(items);
  const parts: string[] = [];
  let used = 0;
  // Room is kept for the closing "n more problem(s) …".
  for (const g of groups.slice(0, MAX_PROBLEMS)) {
    const part = `${cut(g.message, MAX_PROBLEM_CHARS)} (${names(g.clusters)})`;
    if (parts.length > 0 && used + part.length + 2 > MAX_SUMMARY_CHARS - 80) break;
    parts.push(part);
    used += part.length + 2;
  }
  const rest = groups.slice(parts.length);
  if (rest.length > 0) {
    const clusters = new Set(rest.flatMap((g) => g.clusters));
    parts.push(`${rest.length} more problem(s) on ${clusters.size} cluster(s), see status.clusters`);
  }
  return cut(parts.join("; "), MAX_SUMMARY_CHARS);
}

/** The summary without the cluster names: equal when only the clusters named differ. */
export function problemSignature(items: readonly ClusterProblem[]): string {
  return groupProblems(items).map((g) => g.message).sort().join("\n");
}
