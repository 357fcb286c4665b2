import { type Socket, connect, createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultProxy } from "./fault-proxy.ts";

const echo = createServer((s) => {
  // The proxy resets its upstream side too; the echo end just goes away.
  s.on("error", () => undefined);
  s.pipe(s);
});
let echoPort = 0;
beforeAll(async () => {
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(() => {
  echo.close();
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => { resolve(s); });
    s.once("error", reject);
  });
}

function roundTrip(s: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    s.once("data", (d: Buffer) => { resolve(d.toString()); });
    s.write(text);
  });
}

describe("FaultProxy", () => {
  it("relays bytes, resets connections on cut, refuses while cut, and recovers on the same port", async () => {
    const proxy = new FaultProxy("127.0.0.1", echoPort);
    const port = await proxy.start();
    const s = await open(port);
    expect(await roundTrip(s, "hello")).toBe("hello");
    const ended = new Promise<string>((resolve) => {
      s.once("error", (e: NodeJS.ErrnoException) => { resolve(e.code ?? e.message); });
      s.once("close", () => { resolve("closed"); });
    });
    await proxy.cut();
    expect(await ended).toMatch(/ECONNRESET|closed/);
    await expect(open(port)).rejects.toThrow(/ECONNREFUSED/);
    await proxy.restore();
    expect(proxy.port).toBe(port);
    const s2 = await open(port);
    expect(await roundTrip(s2, "again")).toBe("again");
    s2.destroy();
    await proxy.stop();
  });

  it("blackhole stalls open and new connections without closing them", async () => {
    const proxy = new FaultProxy("127.0.0.1", echoPort);
    const port = await proxy.start();
    const s = await open(port);
    expect(await roundTrip(s, "ping")).toBe("ping");
    proxy.blackhole();
    const silent = await Promise.race([roundTrip(s, "lost"), new Promise<string>((r) => setTimeout(() => { r("silence"); }, 300))]);
    expect(silent).toBe("silence");
    const s2 = await open(port); // accepted…
    const silent2 = await Promise.race([roundTrip(s2, "x"), new Promise<string>((r) => setTimeout(() => { r("silence"); }, 300))]);
    expect(silent2).toBe("silence"); // …but never answered
    expect(s.destroyed).toBe(false);
    s.on("error", () => undefined);
    s2.on("error", () => undefined);
    await proxy.restore();
    const s3 = await open(port);
    expect(await roundTrip(s3, "back")).toBe("back");
    s3.destroy();
    await proxy.stop();
  });
});
