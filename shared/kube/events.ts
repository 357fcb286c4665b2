// core/v1 Events, written as client-go's recorder writes them. Cluster-scoped objects (Nodes,
// ManagedClusterModules, ClusterClaims) get their Events in "default", where kubectl describe looks.
// A repeated Event is one object whose count and lastTimestamp grow (client-go's EventCorrelator
// aggregation), not a new object per occurrence.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { metaTime } from "../api/conditions.ts";
import { MAX_SUBDOMAIN_LENGTH, boundedName } from "./names.ts";
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

function clip(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
}

function eventsPath(namespace: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
}

export interface EventInput {
  involvedObject: InvolvedObject;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  component: string;
  instance?: string;
  at?: Date;
  /** Object name; `<involved name>.<random>` when unset. A fixed name lets a series be found again. */
  name?: string;
  /** Occurrences this Event stands for (1 unless it continues a series). */
  count?: number;
  firstTimestamp?: Date;
}

/**
 * `<involved name>.<suffix>`, within the 253 characters of a DNS subdomain whatever the length of the
 * involved object's name (a Node's may take all 253): a longer name is cut and hashed (boundedName).
 */
export function eventName(involvedName: string, suffix: string): string {
  return `${boundedName(involvedName, MAX_SUBDOMAIN_LENGTH - suffix.length - 1)}.${suffix}`;
}

/** POSTs one Event. Throws the API server's ApiError (409 when `name` exists already). */
export async function postEvent(raw: RawClient, e: EventInput): Promise<void> {
  const namespace = e.involvedObject.namespace ?? "default";
  const ts = metaTime(e.at ?? new Date());
  await raw.request("POST", eventsPath(namespace), {
    apiVersion: "v1",
    kind: "Event",
    metadata: { name: e.name ?? eventName(e.involvedObject.name, randomBytes(8).toString("hex")), namespace },
    involvedObject: e.involvedObject,
    type: e.type,
    reason: e.reason,
    message: clip(e.message),
    source: { component: e.component },
    reportingComponent: e.component,
    ...(e.instance !== undefined ? { reportingInstance: e.instance } : {}),
    firstTimestamp: e.firstTimestamp !== undefined ? metaTime(e.firstTimestamp) : ts,
    lastTimestamp: ts,
    count: e.count ?? 1,
  });
}

const storedEventSchema = z.looseObject({ count: z.number().int().optional() });

/** The count of a stored Event (1 when it has none). Throws ApiError (404 when it is gone). */
export async function eventCount(raw: RawClient, namespace: string, name: string): Promise<number> {
  const res = await raw.request("GET", `${eventsPath(namespace)}/${encodeURIComponent(name)}`);
  return storedEventSchema.parse(res.body).count ?? 1;
}

/**
 * Continues a series: sets count, lastTimestamp and message of an existing Event (merge patch, as
 * client-go's EventCorrelator does). Throws ApiError (404 when the Event expired meanwhile).
 */
export async function updateEventSeries(raw: RawClient, namespace: string, name: string, u: { count: number; message: string; at: Date }): Promise<void> {
  await raw.request(
    "PATCH",
    `${eventsPath(namespace)}/${encodeURIComponent(name)}`,
    { count: u.count, lastTimestamp: metaTime(u.at), message: clip(u.message) },
    "application/merge-patch+json",
  );
}
