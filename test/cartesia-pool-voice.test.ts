/**
 * A pool whose backend is Cartesia maps its voices through its own `options.voice_map`, as
 * docs/cartesia.md promises: the session's voice goes to Cartesia as the id the map names
 * (or `default`, or the name itself). The adapter never maps; the session factory does, once.
 * End to end: gateway, native protocol, the fake Cartesia (checked against Cartesia's SDK).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { startFakeCartesia, type FakeCartesia } from '../src/sim/cartesia.ts';
import { StreamClient } from './helpers/stream-client.ts';

describe('a Cartesia pool maps its voices through options.voice_map', () => {
  let cartesia: FakeCartesia;
  let gateway: Gateway;
  let wsUrl: string;

  beforeAll(async () => {
    cartesia = await startFakeCartesia({ apiKey: 'sk-test', ttfaMs: 20, rtf: 0.05, msPerChar: 40 });
    const config = parseConfig({
      server: { host: '127.0.0.1', port: 0, engine: 'ws' },
      pools: [
        {
          name: 'sonic',
          backend: 'cartesia',
          model: 'sonic-2',
          voices: ['anna', 'ben', 'cartesia-id-direct'],
          instances: [{ id: 'cartesia-1', url: cartesia.url, max_concurrency: 4 }],
          health: { interval_ms: 60_000 },
          options: { api_key: 'sk-test', voice_map: { anna: 'uuid-anna', ben: 'uuid-ben' } },
        },
      ],
    });
    gateway = await createGateway({ config, healthChecks: false });
    wsUrl = `ws://127.0.0.1:${await gateway.listen()}/v1/stream`;
  });

  afterAll(async () => {
    await gateway?.close();
    await cartesia?.close();
  });

  async function voiceSent(voice: string): Promise<unknown> {
    const before = cartesia.requests().length;
    const client = await StreamClient.started(wsUrl, { type: 'start', voice });
    client.send({ type: 'text', text: 'Hello there.' });
    client.send({ type: 'flush' });
    await client.waitType('turn_end', 10_000);
    await client.close();
    const sent = cartesia.requests().slice(before);
    expect(sent).toHaveLength(1);
    return (sent[0]!.voice as { id?: string }).id;
  }

  it('sends the mapped id for a mapped voice, the name itself for an unmapped one', async () => {
    expect(await voiceSent('anna')).toBe('uuid-anna');
    expect(await voiceSent('ben')).toBe('uuid-ben');
    expect(await voiceSent('cartesia-id-direct')).toBe('cartesia-id-direct');
  });
});
