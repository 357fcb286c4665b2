// The decision about one desired Job against the cached one, fleet-wide merging, obsolete Jobs and
// the Events upstream names.
import { describe, expect, it } from "vitest";
import type { ManagedClusterModule } from "../../shared/api/index.ts";
import { buildJob } from "./build-job.ts";
import { decideJob, jobEvent, mergeDesiredJobs, obsoleteJobs, terminationMessage } from "./decision.ts";
import type { Job, ObservedJob, ObservedPod } from "./job.ts";
import { signJob } from "./sign-job.ts";
import { buildSignMcm, IMAGE, KERNEL, resolvedMapping, SIGN } from "./testing/fixtures.ts";

const DIGEST = `sha256:${"e".repeat(64)}`;
const NOW = Date.parse("2026-11-30T12:00:00Z");

const mcm = (name: string, image = IMAGE, buildArgs: { name: string; value: string }[] = []): ManagedClusterModule =>
  buildSignMcm({
    name,
    container: {
      kernelMappings: [{ regexp: "^.+$", containerImage: image }],
      build: { dockerfileConfigMap: { name: "df" }, buildArgs },
      sign: { unsignedImage: "registry.example.com/kmm/kmod-unsigned:1", ...SIGN },
    },
  });

const mapping = (m: ManagedClusterModule) => ({ ...resolvedMapping(m), build: undefined });

/** A sign Job (sign-only, so it does not depend on the MCM's name beyond its owner and label). */
function desiredSign(m: ManagedClusterModule, keyVersion = "1"): Job {
  return signJob({ mcm: m, mapping: mapping(m), namespace: "kmm-hub", secretVersions: { key: keyVersion, cert: "1" }, relatedImageSign: "s:1" }).job;
}

function observed(job: Job, status: ObservedJob["status"] = { active: 1 }, extra: Partial<ObservedJob["metadata"]> = {}): ObservedJob {
  return { metadata: { name: job.metadata.name ?? "", namespace: "kmm-hub", uid: "job-uid", labels: job.metadata.labels, annotations: job.metadata.annotations, ...extra }, status };
}

function pod(jobName: string, message: string | undefined, jobUid = "job-uid"): ObservedPod {
  return {
    metadata: { name: `${jobName}-x7k2p`, labels: { "batch.kubernetes.io/job-name": jobName }, ownerReferences: [{ kind: "Job", name: jobName, uid: jobUid }] },
    status: { phase: "Succeeded", containerStatuses: [{ name: "signer", state: { terminated: { exitCode: 0, ...(message === undefined ? {} : { message }) } } }] },
  };
}

describe("decideJob", () => {
  const desired = desiredSign(mcm("kmod"));

  it("creates a missing Job and waits for a running one", () => {
    expect(decideJob(desired, undefined, [], NOW, 0)).toEqual({ action: "create" });
    expect(decideJob(desired, observed(desired), [], NOW, 0)).toEqual({ action: "wait", reason: "running" });
  });

  it("replaces a Job whose inputs changed, whatever its state, and waits while one is being deleted", () => {
    const old = desiredSign(mcm("kmod"), "0");
    expect(decideJob(desired, observed(old), [], NOW, 0)).toEqual({ action: "replace", uid: "job-uid" });
    expect(decideJob(desired, observed(old, { failed: 1, conditions: [{ type: "Failed", status: "True" }] }), [], NOW, 0)).toEqual({ action: "replace", uid: "job-uid" });
    expect(decideJob(desired, observed(old, {}, { deletionTimestamp: "2026-11-30T11:59:00Z" }), [], NOW, 0)).toEqual({ action: "wait", reason: "deleting" });
  });

  it("reports success with the digest of the termination message, deleting at once or after gcDelay", () => {
    const done = observed(desired, { succeeded: 1, completionTime: "2026-11-30T11:59:00Z", conditions: [{ type: "Complete", status: "True" }] });
    const pods = [pod(desired.metadata.name ?? "", `${DIGEST}\n`)];
    expect(decideJob(desired, done, pods, NOW, 0)).toEqual({ action: "succeeded", digest: DIGEST, deleteInMs: 0, uid: "job-uid" });
    expect(decideJob(desired, done, pods, NOW, 5 * 60_000)).toEqual({ action: "succeeded", digest: DIGEST, deleteInMs: 4 * 60_000, uid: "job-uid" });
    expect(decideJob(desired, done, [pod(desired.metadata.name ?? "", "not a digest")], NOW, 0)).toMatchObject({ digest: undefined });
    // A pod of an earlier Job with the same name does not count.
    expect(decideJob(desired, done, [pod(desired.metadata.name ?? "", DIGEST, "older-uid")], NOW, 0)).toMatchObject({ digest: undefined });
  });

  it("keeps a failed Job, says why and that it is not retried", () => {
    const failed = observed(desired, { failed: 1, conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit" }] });
    const decision = decideJob(desired, failed, [pod(desired.metadata.name ?? "", "SignerError: filesToSign entry /opt/x.ko matches no file")], NOW, 0);
    expect(decision).toEqual({
      action: "failed",
      message: `Job kmm-hub/${desired.metadata.name} failed (BackoffLimitExceeded: Job has reached the specified backoff limit: SignerError: filesToSign entry /opt/x.ko matches no file); it is not retried until an administrator deletes it or an input changes`,
    });
  });

  it("reads the termination message of the Job's own pod only", () => {
    const job = observed(desired);
    expect(terminationMessage(job, [pod("other-job", DIGEST)])).toBeUndefined();
    expect(terminationMessage(job, [pod(desired.metadata.name ?? "", ` ${DIGEST} `)])).toBe(DIGEST);
  });
});

describe("mergeDesiredJobs", () => {
  it("makes one Job of equal Jobs wanted by several MCMs, owned by all, the first by name controlling", () => {
    const a = desiredSign(mcm("alpha"));
    const b = desiredSign(mcm("beta"));
    expect(a.metadata.name).toBe(b.metadata.name);
    const { jobs, conflicts } = mergeDesiredJobs([b, a, b]);
    expect(conflicts).toEqual([]);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.metadata.labels?.["kmm.node.kubernetes.io/module.name"]).toBe("alpha");
    expect(jobs[0]?.metadata.ownerReferences?.map((o) => [o.name, o.controller ?? false])).toEqual([
      ["alpha", true],
      ["beta", false],
    ]);
  });

  it("keeps the first MCM's Job when two MCMs build the same image differently, and reports the others", () => {
    const build = (m: ManagedClusterModule) =>
      buildJob({ mcm: m, mapping: { ...mapping(m), sign: undefined, build: m.spec.moduleSpec.moduleLoader!.container.build }, namespace: "kmm-hub", dockerfile: { key: "dockerfile", text: "FROM x\nARG X" }, secretVersions: {}, relatedImageBuild: "k:1" }).job;
    const a = build(mcm("alpha"));
    const b = build(mcm("beta", undefined, [{ name: "X", value: "1" }]));
    const other = build(mcm("gamma", "registry.example.com/kmm/other:${KERNEL_FULL_VERSION}"));
    const { jobs, conflicts } = mergeDesiredJobs([b, other, a]);
    expect(jobs.map((j) => j.metadata.ownerReferences?.[0]?.name).sort()).toEqual(["alpha", "gamma"]);
    expect(conflicts).toEqual([{ name: a.metadata.name, destination: `registry.example.com/kmm/kmod:${KERNEL}`, kernel: KERNEL, kept: "alpha", dropped: ["beta"] }]);
  });
});

describe("obsoleteJobs and events", () => {
  it("lists the hub's Jobs that no desired Job names, and nobody else's", () => {
    const wanted = desiredSign(mcm("kmod"));
    const gone = desiredSign(mcm("kmod", "registry.example.com/kmm/old:${KERNEL_FULL_VERSION}"));
    const foreign: ObservedJob = { metadata: { name: "someone-elses", labels: { app: "x" } } };
    const deleting = observed(gone, {}, { name: "already-going", deletionTimestamp: "2026-11-30T11:00:00Z" });
    expect(obsoleteJobs([observed(wanted), observed(gone), foreign, deleting], [wanted]).map((j) => j.metadata.name)).toEqual([gone.metadata.name]);
  });

  it("uses upstream's reasons and messages", () => {
    expect(jobEvent("build", "created", KERNEL)).toEqual({ type: "Normal", reason: "BuildCreated", message: `Build created for kernel ${KERNEL}` });
    expect(jobEvent("build", "succeeded", KERNEL)).toEqual({ type: "Normal", reason: "BuildSucceeded", message: `Build job succeeded for kernel ${KERNEL}` });
    expect(jobEvent("sign", "created", KERNEL).reason).toBe("SignCreated");
    expect(jobEvent("sign", "succeeded", KERNEL).message).toBe(`Sign job succeeded for kernel ${KERNEL}`);
    expect(jobEvent("sign", "failed", KERNEL, "Job kmm-hub/x failed")).toEqual({ type: "Warning", reason: "SignFailed", message: `Sign job failed for kernel ${KERNEL}: Job kmm-hub/x failed` });
  });
});
