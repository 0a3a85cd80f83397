/**
 * Process signals → one graceful drain (docs/deploy.md, "Signals").
 *
 * The same stop request often arrives more than once: Ctrl-C or a supervisor signals the whole
 * process group, and `npm start` forwards the signal it got to its child as well, so node sees
 * SIGINT (or SIGTERM) twice within milliseconds. A repeat inside `duplicateWindowMs` is that same
 * request and is ignored; a signal after it is an operator insisting, and closes at once.
 *
 * Started by `npm start`, the gateway must not outlive npm: when its parent process goes away
 * (npm killed with SIGKILL, a terminal closed) it is re-parented, and that counts as a stop
 * request too (`watchParent`).
 */

/** The part of `process` used here (tests pass a fake). */
export interface SignalSource {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  readonly ppid: number;
}

export interface StopSignalOptions {
  /** Starts the graceful drain; called once. */
  readonly drain: (reason: string) => void;
  /** An operator insists (a signal after the duplicate window during the drain): close now. */
  readonly force: (reason: string) => void;
  /** A repeated signal within this window of the first is the same request. Default 1000. */
  readonly duplicateWindowMs?: number;
  /** Also stop when the parent process changes (re-parented: the launcher died). Default false. */
  readonly watchParent?: boolean;
  /** How often the parent is checked. Default 1000. */
  readonly parentCheckMs?: number;
  /** Told about ignored duplicates. */
  readonly onDuplicate?: (signal: string) => void;
  readonly source?: SignalSource;
  readonly now?: () => number;
}

/** Installs the handlers; returns a function that removes them. */
export function handleStopSignals(options: StopSignalOptions): () => void {
  const source = options.source ?? process;
  const now = options.now ?? (() => performance.now());
  const window = options.duplicateWindowMs ?? 1000;
  let firstAt: number | null = null;
  let forced = false;

  const stop = (reason: string, signal: boolean): void => {
    if (firstAt === null) {
      firstAt = now();
      options.drain(reason);
      return;
    }
    if (!signal || forced) return;
    if (now() - firstAt < window) {
      options.onDuplicate?.(reason);
      return;
    }
    forced = true;
    options.force(reason);
  };

  const onTerm = () => stop('SIGTERM', true);
  const onInt = () => stop('SIGINT', true);
  source.on('SIGTERM', onTerm);
  source.on('SIGINT', onInt);

  let timer: ReturnType<typeof setInterval> | undefined;
  if (options.watchParent) {
    const parent = source.ppid;
    timer = setInterval(() => {
      if (source.ppid !== parent) {
        clearInterval(timer);
        stop('parent process exited', false);
      }
    }, options.parentCheckMs ?? 1000);
    timer.unref?.();
  }

  return () => {
    source.off('SIGTERM', onTerm);
    source.off('SIGINT', onInt);
    if (timer) clearInterval(timer);
  };
}
