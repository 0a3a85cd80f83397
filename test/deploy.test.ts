/**
 * Static checks of deploy/ (no Docker engine or cluster here): the Kubernetes manifests, the
 * compose file and Dockerfile, and the systemd unit agree with each other, with the repository
 * and with voicegate's config schema, so that a drain always fits in the time the platform gives.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const K8S = join(ROOT, 'deploy/k8s');
const DOCKER = join(ROOT, 'deploy/docker');

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function k8sDocs(): Doc[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => {
        expect(d.errors, f).toEqual([]);
        return d.toJS() as Doc;
      }),
    );
}
const byKind = (docs: Doc[], kind: string, name?: string) => docs.filter((d) => d.kind === kind && (name === undefined || d.metadata?.name === name));
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

describe('deploy/k8s', () => {
  const docs = k8sDocs();
  const [deployment] = byKind(docs, 'Deployment', 'voicegate');
  const [configMap] = byKind(docs, 'ConfigMap', 'voicegate-config');
  const container = deployment!.spec.template.spec.containers[0];
  const gatewayConfig = parseConfig(parseYaml(configMap!.data['voicegate.yaml']), { VOICEGATE_API_KEY: 'k', CARTESIA_API_KEY: 'c' }, 'configmap');

  it('has every kind, all in one namespace, and kustomization lists every file', () => {
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'Service']);
    for (const d of docs) expect(d.metadata.namespace, `${d.kind} ${d.metadata.name}`).toBe('voicegate');
    const kustomization = parseYaml(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8')) as Doc;
    expect([...kustomization.resources].sort()).toEqual(readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('the ConfigMap is a valid voicegate config finding GPUs through the headless Service', () => {
    const [gpu] = byKind(docs, 'Service', 'tts-gpu');
    expect(gpu!.spec.clusterIP).toBe('None');
    const discovery = gatewayConfig.pools[0]!.discovery!;
    expect(discovery.dns).toBe(`${gpu!.metadata.name}.${gpu!.metadata.namespace}.svc.cluster.local`);
    expect(gpu!.spec.ports.map((p: Doc) => p.port)).toContain(discovery.port);
    expect(gatewayConfig.server.port).toBe(container.ports[0].containerPort);
    const mount = container.volumeMounts.find((m: Doc) => m.name === 'config');
    const env = Object.fromEntries(container.env.map((e: Doc) => [e.name, e.value]));
    expect(env.VOICEGATE_CONFIG).toBe(`${mount.mountPath}/voicegate.yaml`);
  });

  it('probes: readiness on /ready, liveness on /health, on the container port', () => {
    const ports = new Map(container.ports.map((p: Doc) => [p.name, p.containerPort]));
    expect(container.readinessProbe.httpGet.path).toBe('/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/health');
    for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
      const port = probe.httpGet.port;
      expect(typeof port === 'number' ? port : ports.get(port)).toBe(gatewayConfig.server.port);
    }
  });

  it('the grace period covers the preStop sleep plus the drain timeout', () => {
    const spec = deployment!.spec.template.spec;
    const preStop = container.lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    const sleepS = Number(preStop[1]);
    const drainS = gatewayConfig.server.drain_timeout_ms / 1000;
    expect(sleepS).toBeGreaterThan(0);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(sleepS + drainS);
  });

  it('selectors match the pod labels; the PDB, Service and HPA point at the Deployment', () => {
    const podLabels = deployment!.spec.template.metadata.labels;
    expect(matches(deployment!.spec.selector.matchLabels, podLabels)).toBe(true);
    const [service] = byKind(docs, 'Service', 'voicegate');
    expect(matches(service!.spec.selector, podLabels)).toBe(true);
    expect(container.ports.map((p: Doc) => p.name)).toContain(service!.spec.ports[0].targetPort);
    const [pdb] = byKind(docs, 'PodDisruptionBudget');
    expect(matches(pdb!.spec.selector.matchLabels, podLabels)).toBe(true);
    const [hpa] = byKind(docs, 'HorizontalPodAutoscaler');
    expect(hpa!.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'voicegate' });
    expect(hpa!.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const metricNames = hpa!.spec.metrics.map((m: Doc) => m.resource?.name ?? m.pods?.metric.name);
    expect(metricNames).toEqual(['cpu', 'voicegate_sessions_active']);
    expect(container.resources.requests.cpu).toBeDefined(); // CPU utilization needs a request
  });
});

describe('deploy/docker', () => {
  const compose = parseYaml(readFileSync(join(DOCKER, 'compose.yaml'), 'utf8')) as Doc;

  it('compose has the gateway, the simulator, Prometheus and Grafana, and every mounted path exists', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['gateway', 'grafana', 'prometheus', 'sim']);
    for (const [name, service] of Object.entries<Doc>(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0]!;
        expect(existsSync(resolve(DOCKER, source)), `${name}: ${source}`).toBe(true);
      }
      if (service.build) {
        expect(existsSync(join(resolve(DOCKER, service.build.context), service.build.dockerfile)), name).toBe(true);
      }
    }
    expect(compose.services.gateway.ports).toContain('8080:8080');
    expect(compose.services.sim.command.join(' ')).toMatch(/src\/sim\/cli\.ts .*--host 0\.0\.0\.0/);
  });

  it('the gateway config reaches the simulator as compose runs it, and drains within stop_grace_period', () => {
    const config = parseConfig(parseYaml(readFileSync(join(DOCKER, 'voicegate.yaml'), 'utf8')), {}, 'voicegate.yaml');
    const command: string[] = compose.services.sim.command;
    const basePort = Number(command[command.indexOf('--base-port') + 1]);
    const count = Number(command[command.indexOf('--count') + 1]);
    expect(config.pools[0]!.instances.map((i) => i.url)).toEqual(Array.from({ length: count }, (_, i) => `http://sim:${basePort + i}`));
    expect(Number.parseInt(compose.services.gateway.stop_grace_period, 10) * 1000).toBeGreaterThan(config.server.drain_timeout_ms);
  });

  it('the compose Prometheus config is the shipped one with the gateway as target; the Grafana datasource finds it', () => {
    const shipped = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as Doc;
    const ours = parseYaml(readFileSync(join(DOCKER, 'prometheus.yml'), 'utf8')) as Doc;
    shipped.scrape_configs[0].static_configs[0].targets = ['gateway:8080'];
    expect(ours).toEqual(shipped);
    const datasources = readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yaml'), 'utf8');
    expect(datasources).toContain('http://prometheus:9090');
    expect(compose.services.prometheus.ports).toContain('9090:9090');
  });

  it('Dockerfile: multi-stage, Node 20/22 slim, production deps, non-root, every COPY source exists', () => {
    const dockerfile = readFileSync(join(DOCKER, 'Dockerfile'), 'utf8');
    const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]!);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) expect(image).toMatch(/^node:(20|22)-[a-z]+-slim$/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "--import", "tsx", "src\/main\.ts"\]$/m);
    const copies = [...dockerfile.matchAll(/^COPY\s+(?!--from)(?:--\S+\s+)*(.+)$/gm)].map((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(copies.length).toBeGreaterThan(0);
    for (const sources of copies) for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(pkg.dependencies.tsx).toBeDefined(); // the runtime runs TypeScript through tsx
  });
});

describe('deploy/systemd', () => {
  const unit = readFileSync(join(ROOT, 'deploy/systemd/voicegate.service'), 'utf8');
  const value = (key: string) => unit.match(new RegExp(`^${key}=(.*)$`, 'm'))?.[1];

  it('stops with SIGTERM and waits longer than the default drain; restarts on failure', () => {
    expect(value('KillSignal')).toBe('SIGTERM');
    expect(value('Restart')).toBe('on-failure');
    const drainMs = parseConfig({ pools: [{ name: 'p', backend: 'espeak', voices: ['en'], instances: [{}] }] }).server.drain_timeout_ms;
    expect(Number.parseInt(value('TimeoutStopSec')!, 10) * 1000).toBeGreaterThan(drainMs);
    const envFile = value('EnvironmentFile')!;
    expect(readFileSync(join(ROOT, 'deploy/systemd', envFile.split('/').pop()!), 'utf8')).toMatch(/^VOICEGATE_CONFIG=/m);
    expect(value('ExecStart')).toMatch(/node --import tsx src\/main\.ts$/);
  });

  it('passes systemd-analyze verify where systemd is installed', () => {
    const which = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
    if (which.status !== 0) return; // optional tool: nothing to verify with
    const result = spawnSync('systemd-analyze', ['verify', join(ROOT, 'deploy/systemd/voicegate.service')], { encoding: 'utf8', timeout: 20_000 });
    // Missing user/binary on a build machine is fine; unknown keys or bad syntax are not.
    expect(result.stderr).not.toMatch(/Unknown key|Unknown section|Failed to parse|Invalid/i);
  });
});
