// The two kinds of error lvs-lab raises. A UserError is a refusal the user can act on (bad input, a machine that
// cannot host the lab, a lab in the wrong state): the CLI prints its message, exit 2, no stack trace. A CommandError
// is a command that failed where it ran: where, the command, its exit code and stderr; the CLI prints it, exit 1.
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A machine that cannot host the lab (a tool, a kernel feature, a name in use): every problem, one per line. */
export class PreflightError extends UserError {
  constructor(
    readonly where: string,
    readonly problems: string[],
  ) {
    super(`cannot build the lab on ${where}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** A wait that ran out: what did not happen in words, and the limit it had. */
export class TimeoutError extends Error {
  constructor(
    message: string,
    readonly limitMs: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class CommandError extends Error {
  constructor(
    /** The host or machine it ran on: "director", "localhost", "root@127.0.0.1:40022". */
    readonly where: string,
    readonly command: string,
    readonly code: number,
    readonly stderr: string,
    /** What it was for, when the command alone does not say: "starting dockerd". */
    readonly what?: string,
  ) {
    super(
      `${where}: ${what ? `${what} failed` : 'command failed'} with exit code ${code}\n` +
        `  command: ${command.split('\n')[0]}${command.includes('\n') ? ' ...' : ''}\n  stderr: ${stderr.trim() || '(empty)'}`,
    );
    this.name = new.target.name;
  }
}
