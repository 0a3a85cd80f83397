import { describe, expect, it } from 'vitest';
import { instanceIdFromUrl } from '../config.ts';
import { FakeBackend, testPoolConfig } from '../../test/helpers/routing.ts';
import { PoolInstance, type InstanceSpec } from './instance.ts';
import { Membership } from './membership.ts';

const config = testPoolConfig({ instances: 3 });
const member = (overrides: Partial<InstanceSpec> = {}) => ({ url: 'http://10.0.0.9:8880', weight: 1, max_concurrency: 4, ...overrides });

function setup(initial = config.instances) {
  const created: string[] = [];
  const membership = new Membership(
    {
      pool: 'p',
      create: (spec) => {
        created.push(spec.id);
        return new PoolInstance({ pool: config, spec, backend: new FakeBackend(), onHealth: () => {}, onLimit: () => {} });
      },
    },
    initial,
  );
  return { membership, created };
}

describe('Membership', () => {
  it('builds the config members in order; ids from config, else derived from the url', () => {
    const { membership } = setup([...config.instances, { url: 'http://10.0.0.7:8880', weight: 1, max_concurrency: 1 }]);
    expect(membership.members.map((i) => i.id)).toEqual(['gpu-0', 'gpu-1', 'gpu-2', instanceIdFromUrl('http://10.0.0.7:8880')]);
    expect(membership.availableWeight).toBe(4);
    expect(() => setup([config.instances[0]!, config.instances[0]!])).toThrow(/duplicate instance id gpu-0/);
  });

  it('add rebuilds the ring with the newcomer; a duplicate id or an id-less, url-less instance throws', () => {
    const { membership, created } = setup();
    const ringBefore = membership.ring;
    const { instance, rejoined } = membership.add(member());
    expect(rejoined).toBe(false);
    expect(created.at(-1)).toBe(instance.id);
    expect(membership.members.at(-1)).toBe(instance);
    expect(membership.ring).not.toBe(ringBefore);
    expect(membership.availableWeight).toBe(4);
    expect(() => membership.add(member())).toThrow(/duplicate instance id/);
    expect(() => membership.add({ weight: 1, max_concurrency: 1 })).toThrow(/needs an id or a url/);
  });

  it('remove retires: out of the ring and the weight, still known until forgotten; re-adding brings the same instance back', () => {
    const { membership, created } = setup();
    const gone = membership.remove('gpu-1')!;
    expect(gone.retiring).toBe(true);
    expect(membership.members.map((i) => i.id)).toEqual(['gpu-0', 'gpu-2']);
    expect(membership.availableWeight).toBe(2);
    expect(membership.get('gpu-1')).toBe(gone);
    expect(membership.listed().map((i) => i.id)).toEqual(['gpu-0', 'gpu-2', 'gpu-1']);
    expect(membership.remove('gpu-1')).toBeUndefined(); // already retiring

    const back = membership.add({ id: 'gpu-1', url: 'http://x', weight: 1, max_concurrency: 1 });
    expect(back).toEqual({ instance: gone, rejoined: true });
    expect(gone.retiring).toBe(false);
    expect(created).toHaveLength(3); // nothing new built

    membership.remove('gpu-1');
    membership.forget(gone);
    expect(membership.get('gpu-1')).toBeUndefined();
    expect([...membership.all()].map((i) => i.id)).toEqual(['gpu-0', 'gpu-2']);
  });

  it('the available weight follows drain and health once recomputed', () => {
    const { membership } = setup();
    membership.get('gpu-0')!.setDraining(true);
    membership.recomputeWeight();
    expect(membership.availableWeight).toBe(2);
    const sick = membership.get('gpu-2')!;
    for (let i = 0; i < 3; i++) sick.health.failure('http_5xx');
    membership.recomputeWeight();
    expect(membership.availableWeight).toBe(1);
    sick.stop();
  });
});
