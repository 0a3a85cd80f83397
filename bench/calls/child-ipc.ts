/**
 * The IPC a benchmark child answers: `gc` (collect garbage, reply with memory figures) and
 * `exit` (close cleanly, so `--cpu-prof` can write its profile).
 */
export interface ChildMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export function serveChildIpc(close: () => Promise<void>): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  let closing = false;
  const exit = (): void => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('message', (msg: { type?: string }) => {
    if (msg?.type === 'gc') {
      gc?.();
      const m = process.memoryUsage();
      const reply: ChildMemory = { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
      process.send!({ type: 'gc-done', memory: reply });
    } else if (msg?.type === 'exit') exit();
  });
  // The parent died or closed the channel: do not linger.
  process.on('disconnect', exit);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
}
