/**
 * Static checks of the several-replica deployments (docs/scaling.md): deploy/docker/cluster
 * (compose with Redis and two replicas) and deploy/k8s/cluster (kustomize overlay with Redis,
 * a shared voices volume and a KEDA ScaledObject on voicegate_pool_demand_streams). No Docker
 * engine or cluster here: they must agree with each other and with voicegate's config schema.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const DOCKER = join(ROOT, 'deploy/docker/cluster');
const K8S = join(ROOT, 'deploy/k8s/cluster');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const docsOf = (file: string): Doc[] => parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => d.toJS() as Doc);

describe('deploy/docker/cluster', () => {
  const compose = parseYaml(readFileSync(join(DOCKER, 'compose.yaml'), 'utf8'), { merge: true }) as Doc;
  const config = parseConfig(parseYaml(readFileSync(join(DOCKER, 'voicegate.yaml'), 'utf8')), {}, 'voicegate.yaml');

  it('runs Redis and two gateway replicas on one config, one voices volume, and every mounted path exists', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway-a', 'gateway-b', 'prometheus', 'redis', 'sim']);
    const a = compose.services['gateway-a'];
    const b = compose.services['gateway-b'];
    expect(a.volumes).toEqual(b.volumes);
    expect(a.volumes).toContain(`voices:${config.voices.dir}`);
    expect(Object.keys(compose.volumes)).toContain('voices');
    for (const [name, service] of Object.entries<Doc>(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0]!;
        if (!source.startsWith('.')) continue; // a named volume
        expect(existsSync(resolve(DOCKER, source)), `${name}: ${source}`).toBe(true);
      }
      if (service.build) expect(existsSync(join(resolve(DOCKER, service.build.context), service.build.dockerfile)), name).toBe(true);
    }
    expect(Number.parseInt(a.stop_grace_period, 10) * 1000).toBeGreaterThan(config.server.drain_timeout_ms);
  });

  it('the config points at the compose Redis, and Prometheus scrapes both replicas', () => {
    expect(config.cluster.redis_url).toBe('redis://redis:6379');
    expect(compose.services.redis.image).toMatch(/^redis:/);
    const prometheus = parseYaml(readFileSync(join(DOCKER, 'prometheus.yml'), 'utf8')) as Doc;
    expect(prometheus.scrape_configs[0].static_configs[0].targets.sort()).toEqual(['gateway-a:8080', 'gateway-b:8080']);
    // The rest is the shipped Prometheus config (same job, labels and alert rules).
    const shipped = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as Doc;
    shipped.scrape_configs[0].static_configs[0].targets = prometheus.scrape_configs[0].static_configs[0].targets;
    expect(prometheus).toEqual(shipped);
  });
});

describe('deploy/k8s/cluster', () => {
  const kustomization = parseYaml(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as Doc;
  const [configMap] = docsOf('configmap-cluster.yaml');
  const config = parseConfig(parseYaml(configMap!.data['voicegate.yaml']), { VOICEGATE_API_KEY: 'k', CARTESIA_API_KEY: 'c' }, 'configmap-cluster');
  const redis = docsOf('redis.yaml');

  it('overlays the base with every file of its folder', () => {
    const listed = [...kustomization.resources.filter((r: string) => r !== '../'), ...kustomization.patches.map((p: Doc) => p.path)].sort();
    expect(listed).toEqual(readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
    expect(kustomization.resources).toContain('../');
  });

  it('the config reaches the Redis Service and keeps the shared voices.dir on the RWX volume', () => {
    const service = redis.find((d) => d.kind === 'Service')!;
    expect(config.cluster.redis_url).toBe(`redis://${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0].port}`);
    const [patch] = docsOf('deployment-voices.yaml');
    const mount = patch!.spec.template.spec.containers[0].volumeMounts.find((m: Doc) => m.name === 'voices');
    expect(mount.mountPath).toBe(config.voices.dir);
    const [pvc] = docsOf('voices-pvc.yaml');
    expect(pvc!.spec.accessModes).toEqual(['ReadWriteMany']);
    expect(patch!.spec.template.spec.volumes[0].persistentVolumeClaim.claimName).toBe(pvc!.metadata.name);
    // The rest of the config is the base's (only cluster and voices added).
    const base = parseYaml(parseYaml(readFileSync(join(ROOT, 'deploy/k8s/configmap.yaml'), 'utf8')).data['voicegate.yaml']) as Doc;
    const ours = parseYaml(configMap!.data['voicegate.yaml']) as Doc;
    delete ours.cluster;
    delete ours.voices;
    expect(ours).toEqual(base);
  });

  it('KEDA scales the GPU Deployment on demand summed over replicas, one GPU per max_concurrency streams', () => {
    const [scaled] = docsOf('keda-scaledobject.yaml');
    expect(scaled!.kind).toBe('ScaledObject');
    expect(scaled!.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'tts-gpu' });
    const trigger = scaled!.spec.triggers[0];
    expect(trigger.type).toBe('prometheus');
    // Demand is each replica's own: sum it (a max would undercount with several replicas).
    expect(trigger.metadata.query).toMatch(/^sum\(voicegate_pool_demand_streams\{pool="([^"]+)"\}\)$/);
    const pool = /pool="([^"]+)"/.exec(trigger.metadata.query)![1];
    const poolConfig = config.pools.find((p) => p.name === pool)!;
    expect(Number(trigger.metadata.threshold)).toBe(poolConfig.discovery!.max_concurrency);
    expect(scaled!.spec.minReplicaCount).toBeLessThanOrEqual(scaled!.spec.maxReplicaCount);
  });
});
