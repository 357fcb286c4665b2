import { describe, expect, it } from "vitest";
import { podPhase, podStatus, type ContainerRecord } from "./status.ts";

const rec = (name: string, state: ContainerRecord["state"], extra: Partial<ContainerRecord> = {}): ContainerRecord => ({ name, image: "i", imageID: "", state, restartCount: 0, ready: false, ...extra });
const ok = { terminated: { exitCode: 0, reason: "Completed" } };
const failed = { terminated: { exitCode: 2, reason: "Error" } };
const running = { running: { startedAt: "2026-11-30T00:00:00Z" } };
const waiting = { waiting: { reason: "ContainerCreating" } };

describe("podPhase (the kubelet's getPhase)", () => {
  it("is Pending while an init container has not succeeded, Failed when it failed and is not restarted", () => {
    expect(podPhase({ restartPolicy: "Always", init: [rec("i", running)], containers: [rec("c", waiting)] })).toBe("Pending");
    expect(podPhase({ restartPolicy: "OnFailure", init: [rec("i", failed)], containers: [rec("c", waiting)] })).toBe("Pending");
    expect(podPhase({ restartPolicy: "Never", init: [rec("i", failed)], containers: [rec("c", waiting)] })).toBe("Failed");
  });
  it("follows the containers once initialized", () => {
    const init = [rec("i", ok)];
    expect(podPhase({ restartPolicy: "Never", init, containers: [rec("a", running), rec("b", waiting)] })).toBe("Pending");
    expect(podPhase({ restartPolicy: "Never", init, containers: [rec("a", running), rec("b", ok)] })).toBe("Running");
    expect(podPhase({ restartPolicy: "Never", init, containers: [rec("a", ok), rec("b", ok)] })).toBe("Succeeded");
    expect(podPhase({ restartPolicy: "Never", init, containers: [rec("a", ok), rec("b", failed)] })).toBe("Failed");
    expect(podPhase({ restartPolicy: "OnFailure", init, containers: [rec("a", ok), rec("b", failed)] })).toBe("Running");
    expect(podPhase({ restartPolicy: "Always", init, containers: [rec("a", ok)] })).toBe("Running");
    // Waiting to be restarted (CrashLoopBackOff) is not "never started".
    expect(podPhase({ restartPolicy: "Always", init, containers: [rec("a", { waiting: { reason: "CrashLoopBackOff" } }, { lastState: failed })] })).toBe("Running");
  });
});

describe("podStatus", () => {
  const base = { restartPolicy: "Always" as const, init: [], sandboxReady: true, hostIP: "127.0.0.1", startTime: "t0", previous: [], now: "t1" };
  it("is Ready only when every container is ready, and names the others", () => {
    const s = podStatus({ ...base, containers: [rec("a", running, { ready: true }), rec("b", running)] });
    expect(s.conditions.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "ContainersNotReady", message: "containers with unready status: [b]" });
    expect(s.podIP).toBe("127.0.0.1");
    const ready = podStatus({ ...base, containers: [rec("a", running, { ready: true })] });
    expect(ready.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
  });
  it("keeps a condition's transition time while its status holds", () => {
    const first = podStatus({ ...base, containers: [rec("a", running)] });
    const second = podStatus({ ...base, containers: [rec("a", running)], previous: first.conditions, now: "t2" });
    expect(second.conditions.find((c) => c.type === "Ready")?.lastTransitionTime).toBe("t1");
    const third = podStatus({ ...base, containers: [rec("a", running, { ready: true })], previous: second.conditions, now: "t3" });
    expect(third.conditions.find((c) => c.type === "Ready")?.lastTransitionTime).toBe("t3");
  });
});
