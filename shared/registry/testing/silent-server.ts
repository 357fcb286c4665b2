import net from "node:net";

/** A TCP server on 127.0.0.1 that accepts connections and reads, never writes: a registry that hangs. */
export interface SilentServer {
  /** host:port to use as a registry. */
  host: string;
  /** Connections accepted so far. */
  accepted: () => number;
  /** Accepted connections whose socket is closed (the client destroyed it). */
  closed: () => number;
  /** Resolves once `n` connections have been accepted (the request is on the wire). */
  acceptedAtLeast: (n: number) => Promise<void>;
  /** Resolves once `n` accepted connections are closed. */
  closedAtLeast: (n: number) => Promise<void>;
  stop: () => Promise<void>;
}

export async function startSilentServer(): Promise<SilentServer> {
  const sockets: net.Socket[] = [];
  let closed = 0;
  const waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) {
      if (w.ready()) w.resolve();
      else waiters.push(w);
    }
  };
  const until = (ready: () => boolean): Promise<void> =>
    ready() ? Promise.resolve() : new Promise((resolve) => waiters.push({ ready, resolve }));
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed++;
      wake();
    });
    wake();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    accepted: () => sockets.length,
    closed: () => closed,
    acceptedAtLeast: (n) => until(() => sockets.length >= n),
    closedAtLeast: (n) => until(() => closed >= n),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
