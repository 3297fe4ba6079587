/** Signalling a machine's program (the init's only child) and waiting for a run to end. */
import { sleep } from '../../lib/clock.ts';
import { PlatformError } from '../../lib/errors.ts';
import { cmdline } from './proc.ts';
import type { FinalExit } from './status-dir.ts';

/** Right after start the init may not have forked the program yet; wait this long for it. */
const programAppearMsMax = 2000;
const programAppearPollMs = 5;
/** How often stop looks for the exit; cheap (two small file reads). */
const exitPollMs = 10;

/** Sends `signal` to the init's child once it runs the program; no-op if the init has already ended. */
export async function signalMainProcess(initPid: number, signal: NodeJS.Signals, children: (pid: number) => Promise<number[]>): Promise<void> {
  for (let waited = 0; waited <= programAppearMsMax; waited += programAppearPollMs) {
    const [program] = await children(initPid);
    // Until it execs, the child is a fork of the init's shell, whose handlers would swallow the signal.
    if (program !== undefined && (await cmdline(program)) !== (await cmdline(initPid))) {
      try {
        process.kill(program, signal);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
      return;
    }
    try {
      process.kill(initPid, 0);
    } catch {
      return;
    }
    await sleep(programAppearPollMs);
  }
}

/** Polls `finalExit` until it reports an exit or `timeoutMs` passes (then null). */
export async function waitForExit(finalExit: () => Promise<FinalExit | null>, timeoutMs: number): Promise<FinalExit | null> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const final = await finalExit();
    if (final !== null) return final;
    if (performance.now() >= deadline) return null;
    await sleep(Math.min(exitPollMs, Math.max(1, deadline - performance.now())));
  }
}

/** An init that wrote its status exits right after; this bounds how long that may take. */
const initExitMsMax = 5000;

/** Waits until `pid` is gone (after its status is written, the init still has to exit). */
export async function waitGone(pid: number, alive: (pid: number) => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + initExitMsMax;
  while (await alive(pid)) {
    if (performance.now() > deadline) throw new PlatformError('init_stuck', `init ${pid} wrote its exit status but still runs after ${initExitMsMax} ms`);
    await sleep(2);
  }
}
