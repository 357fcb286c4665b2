// The command-line conventions every program of the project follows (hub, spoke, worker, signer,
// scripts, fleet and demo): `--help`/`-h` prints the usage on stdout and exits 0; a usage error
// (unknown flag, missing value, bad argument) prints one line naming the problem and a hint to
// `--help` on stderr and exits 2; no stack trace for anything the user typed.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { exitAfterFlush } from "./exit.ts";

/** Exit status of a usage error (as getopt-style programs and shells' builtins use). */
export const USAGE_EXIT = 2;

/** A command line the program cannot run: printed in one line with a hint to `--help`, exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Whether `err` is one of node:util parseArgs' errors (ERR_PARSE_ARGS_UNKNOWN_OPTION, …). */
export function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS");
}

/** Whether `argv` asks for help: `--help` or `-h` before any `--` (after it, arguments are data). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

/** node:util parseArgs, with its errors thrown as UsageError (same message, without the code prefix). */
export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    if (isParseArgsError(err)) throw new UsageError(err.message);
    throw err;
  }
}

/** What a program prints for a command line: its usage, a usage error, or nothing (run it). */
export interface CommandLineProgram {
  /** The program's name as the user knows it, prefixed to error lines ("gen-policy"). */
  name: string;
  /** The full usage text printed by --help. */
  usage: string;
  /** How the user asks for help ("npm run gen:policy -- --help"), named in the usage error's hint. */
  helpCommand: string;
}

/** The two lines printed for a usage error: `<name>: <message>` and the hint to --help. */
export function usageErrorText(program: CommandLineProgram, message: string): string {
  return `${program.name}: ${message}\ntry '${program.helpCommand}' for usage\n`;
}

/**
 * Runs `body` as a program's main function under the conventions above and exits when it is done
 * (after flushing stdout and stderr): --help/-h → usage on stdout, 0; UsageError or a parseArgs error
 * → usageErrorText on stderr, 2; any other Error → `<name>: <message>` on stderr, 1 (no stack trace:
 * programs throw only errors whose message says what went wrong); otherwise the status `body` returns.
 */
export async function runCommandLine(program: CommandLineProgram, argv: readonly string[], body: () => Promise<number>): Promise<never> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${program.usage}\n`);
    return exitAfterFlush(0);
  }
  let code: number;
  try {
    code = await body();
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      process.stderr.write(usageErrorText(program, err.message));
      return exitAfterFlush(USAGE_EXIT);
    }
    process.stderr.write(`${program.name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return exitAfterFlush(1);
  }
  return exitAfterFlush(code);
}
