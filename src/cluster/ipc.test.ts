import { fork } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { IpcChannel, IpcClosedError, IpcTimeoutError } from './ipc.ts';
import { linkedEndpoints } from '../../test/helpers/ipc-endpoints.ts';

type Echo = { echo: [string, string]; fail: [null, never]; never: [null, null] };

describe('IpcChannel', () => {
  it('answers each request by its id, concurrent ones included, and carries errors back', async () => {
    const [a, b] = linkedEndpoints();
    const server = new IpcChannel<Echo, Record<string, never>>(b);
    server.handle('echo', async (text) => {
      await new Promise((r) => setTimeout(r, text.length)); // later requests answer first
      return text.toUpperCase();
    });
    server.handle('fail', () => {
      throw new Error('no such thing');
    });
    const client = new IpcChannel<Record<string, never>, Echo>(a);
    const answers = await Promise.all(['ccccccccc', 'bbbb', 'a'].map((t) => client.request('echo', t)));
    expect(answers).toEqual(['CCCCCCCCC', 'BBBB', 'A']);
    await expect(client.request('fail', null)).rejects.toThrow('no such thing');
    expect(client.pendingCount).toBe(0);
  });

  it('a request with no answer times out and is forgotten', async () => {
    const [a] = linkedEndpoints();
    const client = new IpcChannel<Record<string, never>, Echo>(a);
    await expect(client.request('never', null, 50)).rejects.toBeInstanceOf(IpcTimeoutError);
    expect(client.pendingCount).toBe(0);
  });

  it("the other process's death rejects every pending request at once, and later ones", async () => {
    // A real child that reads requests and never answers, killed mid-request.
    const child = fork('-e', ['process.on("message", () => {}); setInterval(() => {}, 1000)'], { execArgv: [], stdio: 'ignore' });
    try {
      const client = new IpcChannel<Record<string, never>, Echo>(child, { timeoutMs: 30_000 });
      const pending = [client.request('never', null), client.request('never', null)];
      await new Promise((r) => setTimeout(r, 100));
      const killedAt = performance.now();
      child.kill('SIGKILL');
      for (const p of pending) await expect(p).rejects.toBeInstanceOf(IpcClosedError);
      expect(performance.now() - killedAt).toBeLessThan(5000); // not the 30 s timeout
      await expect(client.request('never', null)).rejects.toBeInstanceOf(IpcClosedError);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
