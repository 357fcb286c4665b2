import { describe, expect, it } from "vitest";
import { ROLE_LABEL, ROLE_DEVICE_PLUGIN, ROLE_MODULE_LOADER } from "./labels.ts";
import type { Pod } from "./objects.ts";
import {
  daemonSetCounters,
  describeLoaderFailures,
  loaderAvailableCondition,
  loaderFailures,
  loaderPodFailure,
  mergeConditions,
  MODULE_LOAD_FAILED_REASON,
  statusUnchanged,
} from "./status.ts";

describe("status", () => {
  it("sums desired and available pods over the DaemonSets", () => {
    const ds = (desired: number | undefined, available: number | undefined) => ({
      metadata: { name: "x" },
      status: { ...(desired !== undefined ? { desiredNumberScheduled: desired } : {}), ...(available !== undefined ? { numberAvailable: available } : {}) },
    });
    expect(daemonSetCounters(5, [ds(2, 1), ds(3, 3), ds(undefined, undefined)])).toEqual({ nodesMatchingSelectorNumber: 5, desiredNumber: 5, availableNumber: 4 });
    expect(daemonSetCounters(0, [])).toEqual({ nodesMatchingSelectorNumber: 0, desiredNumber: 0, availableNumber: 0 });
  });

  it("moves lastTransitionTime only when a condition's status changes", () => {
    const t0 = new Date("2026-01-01T00:00:00.123Z");
    const t1 = new Date("2026-01-02T00:00:00Z");
    const first = mergeConditions(undefined, [{ type: "A", status: "True", reason: "R", message: "m" }], 1, t0);
    expect(first).toEqual([{ type: "A", status: "True", reason: "R", message: "m", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 1 }]);
    const same = mergeConditions(first, [{ type: "A", status: "True", reason: "R2", message: "m2" }], 2, t1);
    expect(same[0]?.lastTransitionTime).toBe("2026-01-01T00:00:00Z");
    const flipped = mergeConditions(first, [{ type: "A", status: "False", reason: "R", message: "m" }], 2, t1);
    expect(flipped[0]?.lastTransitionTime).toBe("2026-01-02T00:00:00Z");
    expect(statusUnchanged({ conditions: first }, { conditions: first })).toBe(true);
    expect(statusUnchanged({ conditions: first }, { conditions: same })).toBe(false);
  });
});

describe("module-loader failures", () => {
  const enosys =
    "module kmm_ci_a, kernel 6.1.0-40-amd64: load module failed: modprobe -v -d /kmm-image/opt -S 6.1.0-40-amd64 -- kmm_ci_a failed (exit 1): " +
    "insmod /kmm-image/opt/lib/modules/6.1.0-40-amd64/extra/kmm_ci_a.ko\nmodprobe: ERROR: could not insert 'kmm_ci_a': Function not implemented";
  const pod = (name: string, node: string, status: Record<string, unknown>, role = ROLE_MODULE_LOADER): Pod => ({
    metadata: { name, labels: { [ROLE_LABEL]: role } },
    spec: { nodeName: node },
    status,
  });
  const worker = (state: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ containerStatuses: [{ name: "worker", ready: false, state, ...extra }] });

  it("reads the worker's termination message, now or from its last run while it restarts", () => {
    const crashLooping = pod("a", "n1", worker({ waiting: { reason: "CrashLoopBackOff" } }, { lastState: { terminated: { exitCode: 1, message: enosys } } }));
    expect(loaderPodFailure(crashLooping)).toEqual({ node: "n1", pod: "a", container: "worker", message: enosys });
    expect(loaderPodFailure(pod("a", "n1", worker({ terminated: { exitCode: 1, message: enosys } })))?.message).toBe(enosys);
    expect(loaderPodFailure(pod("a", "n1", worker({ running: {} }, { lastState: { terminated: { exitCode: 1, message: enosys } } })))?.message).toBe(enosys);
    expect(loaderPodFailure(pod("a", "n1", worker({ terminated: { exitCode: 137, reason: "OOMKilled" } })))?.message).toBe("exited with code 137 (OOMKilled)");
  });

  it("reports an init container that cannot pull the kmod image before the worker", () => {
    const p = pod("a", "n1", {
      initContainerStatuses: [{ name: "kmod-image", ready: false, state: { waiting: { reason: "ImagePullBackOff", message: "manifest unknown" } } }],
      containerStatuses: [{ name: "worker", ready: false, state: { waiting: { reason: "PodInitializing" } } }],
    });
    expect(loaderPodFailure(p)).toEqual({ node: "n1", pod: "a", container: "kmod-image", message: "ImagePullBackOff: manifest unknown" });
  });

  it("sees no failure in a ready worker, a starting one, or a device-plugin pod", () => {
    expect(loaderPodFailure(pod("a", "n1", { containerStatuses: [{ name: "worker", ready: true, state: { running: {} }, lastState: { terminated: { exitCode: 1, message: enosys } } }] }))).toBeUndefined();
    expect(loaderPodFailure(pod("a", "n1", worker({ waiting: { reason: "ContainerCreating" } })))).toBeUndefined();
    expect(loaderPodFailure(pod("a", "n1", worker({ terminated: { exitCode: 1, message: enosys } }), ROLE_DEVICE_PLUGIN))).toBeUndefined();
    expect(loaderPodFailure(pod("a", "n1", {}))).toBeUndefined();
  });

  it("says which module, kernel and command failed and the kernel's answer, naming the first node and how many more", () => {
    const failures = loaderFailures([
      pod("b", "n2", worker({ terminated: { exitCode: 1, message: enosys } })),
      pod("ok", "n0", { containerStatuses: [{ name: "worker", ready: true, state: { running: {} } }] }),
      pod("a", "n1", worker({ terminated: { exitCode: 1, message: enosys } })),
    ]);
    expect(failures.map((f) => f.node)).toEqual(["n1", "n2"]);
    const text = describeLoaderFailures(failures);
    expect(text).toBe(
      "node n1, container worker: module kmm_ci_a, kernel 6.1.0-40-amd64: load module failed: modprobe -v -d /kmm-image/opt -S 6.1.0-40-amd64 -- kmm_ci_a failed (exit 1): " +
        "insmod /kmm-image/opt/lib/modules/6.1.0-40-amd64/extra/kmm_ci_a.ko; modprobe: ERROR: could not insert 'kmm_ci_a': Function not implemented (and 1 more node failing)",
    );
    const long = describeLoaderFailures([{ node: "n", pod: "p", container: "worker", message: "x".repeat(5000) }]);
    expect(long.length).toBeLessThan(700);
    expect(long.endsWith("...")).toBe(true);
  });

  it("turns ModuleLoaderAvailable=False into reason ModuleLoadFailed with the failure, and leaves other states alone", () => {
    const base = { type: "ModuleLoaderAvailable", status: "False" as const, reason: "PodsNotAvailable", message: "0 of 1 pods available" };
    const failures = [{ node: "n1", pod: "a", container: "worker", message: enosys }];
    const c = loaderAvailableCondition(base, failures);
    expect(c.reason).toBe(MODULE_LOAD_FAILED_REASON);
    expect(c.message).toBe(`0 of 1 pods available; ${describeLoaderFailures(failures)}`);
    expect(loaderAvailableCondition(base, [])).toEqual(base);
    const ok = { ...base, status: "True" as const, reason: "AllPodsAvailable", message: "1 of 1 pods available" };
    expect(loaderAvailableCondition(ok, failures)).toEqual(ok);
  });
});
