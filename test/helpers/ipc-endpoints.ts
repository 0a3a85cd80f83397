/** Two IPC endpoints joined in one process, asynchronous and copying like node's IPC (tests). */
import { EventEmitter } from 'node:events';
import type { IpcEndpoint } from '../../src/cluster/ipc.ts';

export class LinkedEndpoint extends EventEmitter implements IpcEndpoint {
  peer!: LinkedEndpoint;
  connected = true;

  send(message: unknown): boolean {
    if (!this.connected) throw new Error('channel closed');
    const copy = structuredClone(message);
    setImmediate(() => this.peer.connected && this.peer.emit('message', copy));
    return true;
  }

  /** The other process dies: both ends see 'disconnect'. */
  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    this.peer.connected = false;
    this.emit('disconnect');
    this.peer.emit('disconnect');
  }
}

export function linkedEndpoints(): [LinkedEndpoint, LinkedEndpoint] {
  const a = new LinkedEndpoint();
  const b = new LinkedEndpoint();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
