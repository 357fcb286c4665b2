// Ending a command-line program without losing output: `process.exit` drops whatever stdout or
// stderr still hold in user space (a pipe takes 64 KiB at a time, the rest waits for the reader).
import type { Writable } from "node:stream";
import { getSystemErrorMap } from "node:util";

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

/**
 * Makes a command-line program end cleanly when its output cannot be written, instead of dying with
 * an unhandled 'error' event and a stack trace. Installs 'error' listeners on stdout and stderr:
 * - stdout EPIPE (the reader went away, `prog | head -c 100`): exit at once, quietly, with the exit
 *   status set so far (0 if none), as programs killed by SIGPIPE end without a message;
 * - any other stdout error (`prog > /dev/full`: ENOSPC, EIO…): one line
 *   `<program>: cannot write output: <system message>` on stderr, exit 1;
 * - any stderr error: exit 1 quietly (nowhere left to report).
 * Call once at the start of a program, before anything is written. Idempotent per program.
 */
export function guardOutput(program: string): void {
  if (guarded) return;
  guarded = true;
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(typeof process.exitCode === "number" ? process.exitCode : 0);
    try {
      process.stderr.write(`${program}: cannot write output: ${systemMessage(err)}\n`);
    } finally {
      process.exit(1);
    }
  });
  process.stderr.on("error", () => process.exit(1));
}

let guarded = false;

/** The operating system's words for an I/O error ("no space left on device"), else its message. */
export function systemMessage(err: NodeJS.ErrnoException): string {
  // libuv's words, as Node prints them ("ENOSPC: no space left on device, write").
  const known = typeof err.errno === "number" ? getSystemErrorMap().get(err.errno) : undefined;
  return known?.[1] ?? err.message;
}
