// Ending a command-line program without losing output: `process.exit` drops whatever stdout or
// stderr still hold in user space (a pipe takes 64 KiB at a time, the rest waits for the reader).
import type { Writable } from "node:stream";

/** Resolves once everything written to `stream` so far has been handed to the operating system. */
export function flushed(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || stream.writableEnded) {
      resolve();
      return;
    }
    // A write completes after every earlier write (streams keep order); an error (EPIPE: the reader
    // went away) ends the wait too, since nothing more can be delivered.
    const done = (): void => {
      stream.off("error", done);
      resolve();
    };
    stream.once("error", done);
    stream.write("", done);
  });
}

/** Sets the exit status, waits until stdout and stderr are flushed, then exits. */
export async function exitAfterFlush(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
