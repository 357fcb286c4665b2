import { describe, expect, it } from "vitest";
import { node } from "../testdata.ts";
import { PENDING_LABEL_TTL_MS, PendingNodeLabels } from "./pending-labels.ts";

const READY = "kmm.node.kubernetes.io/apps.kmod-a.ready";

describe("PendingNodeLabels", () => {
  it("lays a written label over a cache that does not show it yet, then forgets it once the cache does", () => {
    const pending = new PendingNodeLabels(() => 1000);
    const stale = node("n1", "6.1.0-18-amd64");
    pending.wrote("n1", { [READY]: "" });
    // The watch has not delivered the patch: the next reconcile must plan from the written state.
    expect(pending.view([stale])[0]!.metadata.labels?.[READY]).toBe("");
    expect(stale.metadata.labels?.[READY]).toBeUndefined(); // the cached object is not changed
    const caughtUp = node("n1", "6.1.0-18-amd64", { labels: { [READY]: "" } });
    expect(pending.view([caughtUp])[0]).toBe(caughtUp);
    // Forgotten: a later removal by someone else is read from the cache as it is.
    expect(pending.view([stale])[0]).toBe(stale);
  });

  it("lays a removal over a cache that still shows the label", () => {
    const pending = new PendingNodeLabels(() => 0);
    const cached = node("n1", "6.1.0-18-amd64", { labels: { [READY]: "" } });
    pending.wrote("n1", { [READY]: null });
    expect(pending.view([cached])[0]!.metadata.labels).not.toHaveProperty(READY);
    expect(pending.view([cached])[0]!.metadata.labels?.["node-role.kubernetes.io/worker"]).toBe("");
  });

  it("trusts the cache again after the deadline, and forgets nodes that left it", () => {
    let now = 0;
    const pending = new PendingNodeLabels(() => now);
    const stale = node("n1", "6.1.0-18-amd64");
    pending.wrote("n1", { [READY]: "" });
    pending.wrote("n2", { [READY]: "" });
    now = PENDING_LABEL_TTL_MS + 1;
    expect(pending.view([stale])[0]).toBe(stale);
    // n2 left the cache in that view: a node of the same name joining later starts clean.
    const n2 = node("n2", "6.1.0-18-amd64");
    now = 0;
    expect(pending.view([n2])[0]).toBe(n2);
  });
});
