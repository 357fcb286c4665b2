// core/v1 Events, written as client-go's recorder writes them. Cluster-scoped objects (Nodes,
// ManagedClusterModules, ClusterClaims) get their Events in "default", where kubectl describe looks.
import { randomBytes } from "node:crypto";
import { metaTime } from "../api/conditions.ts";
import type { RawClient } from "./raw.ts";

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/** The API server refuses Event messages over 1 KiB. */
const MAX_MESSAGE = 1024;

export async function postEvent(
  raw: RawClient,
  e: { involvedObject: InvolvedObject; type: "Normal" | "Warning"; reason: string; message: string; component: string; instance?: string; at?: Date },
): Promise<void> {
  const namespace = e.involvedObject.namespace ?? "default";
  const ts = metaTime(e.at ?? new Date());
  await raw.request("POST", `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: `${e.involvedObject.name}.${randomBytes(8).toString("hex")}`, namespace },
    involvedObject: e.involvedObject,
    type: e.type,
    reason: e.reason,
    message: e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE - 3)}...` : e.message,
    source: { component: e.component },
    reportingComponent: e.component,
    ...(e.instance !== undefined ? { reportingInstance: e.instance } : {}),
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
  });
}
