import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { REDACTED, controllerLogger, createLogger, redact } from "./logger.ts";

const line = z.looseObject({ level: z.string(), msg: z.string().optional(), time: z.string() });

function capture(): { lines: () => z.infer<typeof line>[]; raw: () => string; stream: Writable } {
  let buf = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString("utf8");
      cb();
    },
  });
  return {
    stream,
    raw: () => buf,
    lines: () =>
      buf
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => line.parse(JSON.parse(l))),
  };
}

const dockerConfig = JSON.stringify({ auths: { "quay.io": { auth: "dXNlcjpzM2NyM3Q=" } } });

describe("logger", () => {
  it("writes JSON lines with level label, time and bindings", () => {
    const out = capture();
    const log = createLogger({ name: "kmm-hub", destination: out.stream });
    controllerLogger(log, "mcm", "default/foo").info({ cluster: "spoke1" }, "reconciled");
    const [l] = out.lines();
    expect(l).toMatchObject({ level: "info", msg: "reconciled", name: "kmm-hub", controller: "mcm", key: "default/foo", cluster: "spoke1" });
    expect(Number.isNaN(Date.parse(l?.time ?? ""))).toBe(false);
  });

  it("keeps secrets out of the output at any depth", () => {
    const out = capture();
    const log = createLogger({ name: "t", destination: out.stream });
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "pull", namespace: "kmm" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": Buffer.from(dockerConfig).toString("base64"), other: "b3RoZXItdmFsdWUtc2VjcmV0" },
      stringData: { plain: "plain-secret-value" },
    };
    log.info({ obj: secret }, "got secret");
    log.info({ registry: { creds: { username: "bob", password: "hunter2-pass" } } }, "login");
    log.info({ headers: { Authorization: "Bearer abc.def.ghi" }, token: "tok-123456", nested: [{ deep: { bearerToken: "bt-999" } }] }, "req");
    log.info({ cfg: { ".dockerconfigjson": dockerConfig, auths: { "quay.io": { auth: "dXNlcjpzM2NyM3Q=" } } } }, "cfg");
    log.child({ token: "child-token-777" }).child({ controller: "c", creds: { password: "grandchild-pw" } }).warn("child");
    log.info("sending Authorization: Bearer msg-token-555");
    const raw = out.raw();
    for (const s of [
      "dXNlcjpzM2NyM3Q=",
      "b3RoZXItdmFsdWUtc2VjcmV0",
      "plain-secret-value",
      "hunter2-pass",
      "abc.def.ghi",
      "tok-123456",
      "bt-999",
      "child-token-777",
      "msg-token-555",
      "grandchild-pw",
      Buffer.from(dockerConfig).toString("base64"),
    ]) {
      expect(raw, s).not.toContain(s);
    }
    // Useful, non-secret context stays.
    expect(raw).toContain('"username":"bob"');
    expect(raw).toContain('"name":"pull"');
    expect(raw).toContain("quay.io");
    expect(raw).toContain(REDACTED);
    expect(out.lines()).toHaveLength(6);
  });

  it("does not modify the logged object and survives cycles", () => {
    const obj: Record<string, unknown> = { password: "p", inner: { token: "t" } };
    obj.self = obj;
    const r = redact(obj);
    expect(obj.password).toBe("p");
    expect(r).toMatchObject({ password: REDACTED, inner: { token: REDACTED }, self: "[Circular]" });
  });

  it("keeps error messages and stacks", () => {
    const out = capture();
    const log = createLogger({ name: "t", destination: out.stream });
    log.error({ err: new Error("boom happened") }, "failed");
    expect(out.raw()).toContain("boom happened");
    expect(out.raw()).toContain('"stack"');
  });
});
