// A TCP relay for tests that need a real network failure between a client and
// a real server (API server watches, lease renewals): `cut()` resets every
// connection and refuses new ones until `restore()`. Bytes pass through
// untouched, so TLS is end to end.
import { type Server, type Socket, createConnection, createServer } from "node:net";

export class FaultProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private boundPort = 0;
  private holding = false;

  private readonly targetHost: string;
  private readonly targetPort: number;
  constructor(
    targetHost: string,
    targetPort: number,
  ) {
    this.targetHost = targetHost;
    this.targetPort = targetPort;
  }

  /** Listens on 127.0.0.1 (ephemeral port unless given); returns the port. */
  async start(port = 0): Promise<number> {
    const server = createServer((client) => {
      if (this.holding) {
        // Accept and say nothing: what a client sees when packets are dropped.
        this.sockets.add(client);
        client.on("close", () => this.sockets.delete(client));
        client.on("error", () => undefined);
        client.pause();
        return;
      }
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as { port: number }).port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Resets every open connection (TCP RST) and stops accepting new ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((r) => server.close(() => { r(); })) : Promise.resolve();
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  /**
   * Silently drops traffic: open connections stall (no reset, no data) and new
   * ones are accepted but never answered, so clients hang until their own timeouts.
   */
  blackhole(): void {
    this.holding = true;
    for (const s of this.sockets) {
      s.unpipe();
      s.pause();
    }
  }

  /** Accepts connections again on the same port (stalled ones are reset). */
  async restore(): Promise<void> {
    if (this.holding) {
      this.holding = false;
      for (const s of this.sockets) s.resetAndDestroy();
      this.sockets.clear();
    }
    if (this.server) return;
    await this.start(this.boundPort);
  }

  async stop(): Promise<void> {
    await this.cut();
  }

  openConnections(): number {
    return this.sockets.size;
  }
}
