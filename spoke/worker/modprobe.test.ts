// ModprobeRunner's failure: what modprobe printed on stdout (with -v, the insmod lines it ran) comes
// before its error, so the message shows which insmod the kernel refused.
import { describe, expect, it } from "vitest";
import { ModprobeFailedError, ModprobeRunner, kernelAnswerHint } from "./modprobe.ts";

describe("ModprobeRunner", () => {
  it("puts stdout, then stderr, in a failure's message, with the exit code and the command", async () => {
    const runner = new ModprobeRunner({ binary: "sh", extraArgs: [] });
    const script = "echo 'insmod /m/lib/modules/k/extra/b.ko '; echo \"modprobe: ERROR: could not insert 'a': Function not implemented\" >&2; exit 1";
    const err = await runner.run(["-c", script]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ModprobeFailedError);
    const e = err as ModprobeFailedError;
    expect(e.exitCode).toBe(1);
    expect(e.stdout).toBe("insmod /m/lib/modules/k/extra/b.ko \n");
    expect(e.message).toBe(`sh -c '${script.replaceAll("'", `'\\''`)}' failed (exit 1): insmod /m/lib/modules/k/extra/b.ko\nmodprobe: ERROR: could not insert 'a': Function not implemented`);
  });

  it("keeps the message to stderr when modprobe printed nothing else", async () => {
    const runner = new ModprobeRunner({ binary: "sh", extraArgs: [] });
    const err = (await runner.run(["-c", "echo 'modprobe: FATAL: Module x not found' >&2; exit 1"]).catch((e: unknown) => e)) as ModprobeFailedError;
    expect(err.message).toMatch(/failed \(exit 1\): modprobe: FATAL: Module x not found$/);
  });

  it("names a remedy for the kernel answers a user can act on, and none for others", () => {
    expect(kernelAnswerHint("modprobe: ERROR: could not insert 'a': Function not implemented")).toMatch(/^the kernel cannot load modules \(ENOSYS\)/);
    expect(kernelAnswerHint("modprobe: ERROR: could not insert 'a': Operation not permitted")).toMatch(/CAP_SYS_MODULE/);
    expect(kernelAnswerHint("modprobe: ERROR: could not insert 'a': Key was rejected by service")).toMatch(/signature is not trusted/);
    expect(kernelAnswerHint("modprobe: ERROR: could not insert 'a': Exec format error")).toMatch(/built for another kernel/);
    expect(kernelAnswerHint("modprobe: FATAL: Module x not found")).toBeUndefined();
  });
});
