// Equality-based label selection, as `labels.Set(selector).AsSelector()` in Go: every key must be
// present with the same value; an empty selector selects everything. ManagedClusterModule and
// Module selectors are both of this kind.
export function selectorMatches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const [k, v] of Object.entries(selector)) {
    if (labels?.[k] !== v) return false;
  }
  return true;
}
