import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  DEPLOY, MODELS, REPO, type JsonObject, type K8sObject, type PodTemplate, at, containerPort, filesUnder, hostOf, isObject, isOurImage,
  kubernetesObjects, list, modelKey, num, obj, objects, podConfig, podTemplate, portOf, ref, rel, selects, str, unknownFieldErrors,
  yamlDoc, yamlDocs, yamlFiles,
} from './support.js';

const all = kubernetesObjects();
const inDir = (dir: string): K8sObject[] => all.filter((o) => o.file.startsWith(join(DEPLOY, dir, '/')));
const find = (dir: string, kind: string, name?: string): K8sObject => {
  const found = inDir(dir).filter((o) => o.kind === kind && (name === undefined || o.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''} in deploy/${dir}, found ${found.length}`);
  return found[0] as K8sObject;
};
const pods = (): PodTemplate[] => all.filter((o) => o.kind === 'Deployment').map(podTemplate);
const ourPods = (): PodTemplate[] => pods().filter((p) => p.containers.some(isOurImage));
const ours = (p: PodTemplate): JsonObject => {
  const c = p.containers.find(isOurImage);
  assert.ok(c, `${ref(p.owner)} has a jwt-ext-authz container`);
  return c;
};
const packageVersion = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe('Kubernetes manifests', () => {
  it('parse as YAML, every document of every file under deploy/', () => {
    const files = yamlFiles();
    assert.ok(files.length >= 15, `found only ${files.length} YAML files`);
    for (const f of files) assert.ok(yamlDocs(f).length > 0, `${rel(f)} has no document`);
  });

  it('ship every object the issue asks for in each mode', () => {
    const kinds = (dir: string): string[] => [...new Set(inDir(dir).map((o) => o.kind))].sort();
    assert.deepEqual(kinds('kubernetes/sidecar'), ['ConfigMap', 'Deployment', 'NetworkPolicy', 'Service']);
    assert.deepEqual(kinds('kubernetes/central'),
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'NetworkPolicy', 'PodDisruptionBudget', 'Service']);
    assert.deepEqual(kinds('istio'), ['AuthorizationPolicy', 'ConfigMap', 'Deployment', 'IstioOperator', 'Namespace', 'PeerAuthentication', 'Service']);
    assert.equal(find('kubernetes/central', 'HorizontalPodAutoscaler').apiVersion, 'autoscaling/v2');
    assert.equal(find('kubernetes/central', 'PodDisruptionBudget').apiVersion, 'policy/v1');
    for (const name of ['jwt-ext-authz', 'jwt-ext-authz-http']) assert.equal(find('istio', 'AuthorizationPolicy', name).apiVersion, 'security.istio.io/v1');
  });

  it('pass the JSON schema of their API (kubernetes-models)', () => {
    assert.ok(all.length > 0);
    for (const o of all) {
      const model = MODELS.get(modelKey(o));
      assert.ok(model, `${ref(o)}: ${modelKey(o)} has no schema in the test; add it to MODELS`);
      assert.doesNotThrow(() => model.validate(o.value), `${ref(o)} fails its schema`);
    }
  });

  it('contain no field that their API does not define (kubectl apply validates strictly)', () => {
    assert.deepEqual(unknownFieldErrors(all), []);
  });

  it('reject a misspelt field, so the unknown-field check really checks', () => {
    const deployment = find('kubernetes/central', 'Deployment');
    const broken = structuredClone(deployment.value);
    const container = obj(at(broken, 'spec', 'template', 'spec', 'containers', 0), 'container');
    container['imagePullPolcy'] = 'Always';
    const errors = unknownFieldErrors([{ ...deployment, value: broken }]);
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? '', /imagePullPolcy/);
  });

  it('are listed by the kustomization beside them, which names only files that exist', () => {
    for (const k of yamlFiles().filter((f) => f.endsWith('/kustomization.yaml'))) {
      const dir = dirname(k);
      const resources = list(at(yamlDoc(k), 'resources'), `${rel(k)} resources`).map((r) => str(r, 'resource'));
      for (const r of resources) assert.ok(existsSync(join(dir, r)), `${rel(k)} lists missing ${r}`);
      const applied = filesUnder(dir).filter((f) => f.endsWith('.yaml') && f !== k && dirname(f) === dir).map((f) => f.slice(dir.length + 1));
      // Istio's mesh config goes to istioctl, and the policy to the workload's namespace.
      const separate = rel(dir) === 'deploy/istio' ? ['authorization-policy.yaml', 'authorization-policy-http.yaml', 'mesh-config.yaml'] : [];
      assert.deepEqual([...resources].sort(), applied.filter((f) => !separate.includes(f)).sort(), `${rel(k)} resources`);
    }
  });

  it('keep namespaced references inside one namespace: ConfigMap volumes name a ConfigMap shipped beside the pod', () => {
    for (const p of pods()) {
      for (const v of p.volumes) {
        const name = at(v, 'configMap', 'name');
        if (name === undefined) continue;
        assert.ok(all.some((o) => o.kind === 'ConfigMap' && o.name === name && o.namespace === p.owner.namespace && dirname(o.file) === dirname(p.owner.file)),
          `${ref(p.owner)} mounts ConfigMap ${String(name)}`);
      }
    }
  });
});

describe('Pods', () => {
  it('run every container as non-root, with a read-only root filesystem, no privilege escalation, no capabilities and RuntimeDefault seccomp', () => {
    for (const p of pods()) {
      assert.equal(at(p.spec, 'securityContext', 'runAsNonRoot'), true, `${ref(p.owner)} runAsNonRoot`);
      assert.equal(at(p.spec, 'securityContext', 'seccompProfile', 'type'), 'RuntimeDefault', `${ref(p.owner)} seccomp`);
      assert.equal(p.spec['automountServiceAccountToken'], false, `${ref(p.owner)} needs no API token`);
      for (const c of p.containers) {
        const what = `${ref(p.owner)} container ${String(c['name'])}`;
        const sc = obj(c['securityContext'], `${what} securityContext`);
        assert.equal(sc['allowPrivilegeEscalation'], false, what);
        assert.equal(sc['readOnlyRootFilesystem'], true, what);
        assert.deepEqual(at(sc, 'capabilities', 'drop'), ['ALL'], what);
        assert.ok(num(sc['runAsUser'], `${what} runAsUser`) > 0, `${what} runs as a non-zero uid`);
      }
    }
  });

  it('give every container CPU and memory requests and a memory limit; jwt-ext-authz asks 100m/96Mi, is capped at 192Mi and sizes V8 below that', () => {
    for (const p of pods()) {
      for (const c of p.containers) {
        const what = `${ref(p.owner)} container ${String(c['name'])}`;
        assert.equal(typeof at(c, 'resources', 'requests', 'cpu'), 'string', `${what} CPU request`);
        assert.equal(typeof at(c, 'resources', 'requests', 'memory'), 'string', `${what} memory request`);
        assert.equal(typeof at(c, 'resources', 'limits', 'memory'), 'string', `${what} memory limit`);
      }
      const c = ours(p);
      assert.deepEqual(c['resources'], { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '192Mi' } }, ref(p.owner));
      // The heap limits must leave the limit room for code, buffers and the young generation:
      // the launcher's (bin/jwt-ext-authz), unless NODE_OPTIONS sets its own.
      const env = list(c['env'] ?? [], `${ref(p.owner)} env`).map((e) => obj(e, 'env'));
      const options = env.find((e) => e['name'] === 'NODE_OPTIONS')?.['value'];
      const launcher = readFileSync(join(REPO, 'bin', 'jwt-ext-authz'), 'utf8');
      const flags = typeof options === 'string' && options.includes('--max-old-space-size') ? options : (/^\s*\*\) flags="([^"]*)"/m.exec(launcher)?.[1] ?? '');
      const oldSpace = Number(/--max-old-space-size=(\d+)/.exec(flags)?.[1]);
      assert.ok(oldSpace > 0 && oldSpace <= 192 / 2, `${ref(p.owner)} old space ${oldSpace} MB under half the limit`);
    }
  });

  it('pin every image to a tag, and jwt-ext-authz to the package version', () => {
    for (const p of pods()) {
      for (const c of p.containers) {
        const image = str(c['image'], 'image');
        assert.match(image, /^[\w./-]+:[\w.-]+$/, `${ref(p.owner)}: ${image} has a tag`);
        assert.doesNotMatch(image, /:latest$/, `${ref(p.owner)}: ${image}`);
      }
      assert.equal(ours(p)['image'], `jwt-ext-authz:${packageVersion}`, ref(p.owner));
    }
  });

  it('run jwt-ext-authz as the image user, with its config folder mounted read-only where --config points and a writable /tmp', () => {
    for (const p of ourPods()) {
      const c = ours(p);
      assert.equal(at(c, 'securityContext', 'runAsUser'), 1000, `${ref(p.owner)}: the Dockerfile's USER 1000`);
      const { path } = podConfig(p, all);
      assert.equal(path, '/etc/jwt-ext-authz/config.yaml', `${ref(p.owner)}: the Dockerfile's default --config`);
      const mounts = objects(c['volumeMounts'], 'volumeMounts');
      const configMount = mounts.find((m) => m['mountPath'] === '/etc/jwt-ext-authz');
      assert.equal(configMount?.['readOnly'], true, `${ref(p.owner)}: config mounted read-only`);
      assert.equal(configMount?.['subPath'], undefined, `${ref(p.owner)}: a folder mount, so edits reach the running service`);
      const tmp = mounts.find((m) => m['mountPath'] === '/tmp');
      assert.ok(tmp, `${ref(p.owner)} mounts /tmp`);
      assert.ok(isObject(at(p.volumes.find((v) => v['name'] === tmp['name']), 'emptyDir')), `${ref(p.owner)}: /tmp is an emptyDir`);
    }
  });

  it('expose the ports the config listens on, and ask Prometheus to scrape /metrics on the admin port', () => {
    for (const p of ourPods()) {
      const { config } = podConfig(p, all);
      const c = ours(p);
      assert.equal(containerPort(c, 'grpc'), portOf(config.listen), ref(p.owner));
      assert.equal(containerPort(c, 'admin'), portOf(config.adminListen), ref(p.owner));
      // Probes and Prometheus dial the pod IP: the admin listener must not be loopback-only.
      assert.equal(hostOf(config.adminListen), '0.0.0.0', ref(p.owner));
      assert.equal(p.annotations['prometheus.io/scrape'], 'true', ref(p.owner));
      assert.equal(p.annotations['prometheus.io/port'], String(portOf(config.adminListen)), ref(p.owner));
      assert.equal(p.annotations['prometheus.io/path'], '/metrics', ref(p.owner));
    }
  });

  it('probe readiness where it is reported: gRPC health on a plaintext listener, else /readyz; liveness on /healthz', () => {
    for (const p of ourPods()) {
      const { config } = podConfig(p, all);
      const c = ours(p);
      const readiness = obj(c['readinessProbe'], `${ref(p.owner)} readinessProbe`);
      const liveness = obj(c['livenessProbe'], `${ref(p.owner)} livenessProbe`);
      const grpcProbe = readiness['grpc'];
      if (isObject(grpcProbe)) {
        // The kubelet's gRPC probe dials <pod IP>:port without TLS.
        assert.equal(config.tls, undefined, `${ref(p.owner)}: a gRPC probe cannot speak TLS`);
        assert.equal(grpcProbe['port'], portOf(config.listen), ref(p.owner));
        assert.equal(hostOf(config.listen), '0.0.0.0', `${ref(p.owner)}: the kubelet dials the pod IP`);
      } else {
        assert.deepEqual(readiness['httpGet'], { path: '/readyz', port: portOf(config.adminListen) }, ref(p.owner));
      }
      assert.deepEqual(liveness['httpGet'], { path: '/healthz', port: portOf(config.adminListen) }, ref(p.owner));
    }
  });
});

describe('Sidecar mode', () => {
  const deployment = find('kubernetes/sidecar', 'Deployment');
  const pod = podTemplate(deployment);

  it('runs the app, Envoy and jwt-ext-authz in one pod, with a gRPC readiness probe on the listener', () => {
    assert.deepEqual(pod.containers.map((c) => c['name']), ['app', 'envoy', 'jwt-ext-authz']);
    assert.deepEqual(at(ours(pod), 'readinessProbe', 'grpc'), { port: 9191 });
  });

  it('keeps the app on loopback, so only Envoy reaches it', () => {
    const app = pod.containers.find((c) => c['name'] === 'app');
    const listen = list(app?.['args'], 'app args').map((a) => str(a, 'arg')).find((a) => a.startsWith('-listen='));
    assert.equal(listen, '-listen=127.0.0.1:8081');
  });

  it('points its Service at Envoy', () => {
    const service = find('kubernetes/sidecar', 'Service');
    assert.ok(selects(at(service.value, 'spec', 'selector'), pod.labels));
    const port = objects(at(service.value, 'spec', 'ports'), 'ports')[0];
    const envoy = pod.containers.find((c) => c['name'] === 'envoy');
    assert.ok(envoy);
    assert.equal(port?.['targetPort'], 'http');
    assert.equal(containerPort(envoy, 'http'), 8080);
  });

  it('lets other pods reach Envoy and the admin port but not the gRPC listener', () => {
    const np = find('kubernetes/sidecar', 'NetworkPolicy');
    assert.ok(selects(at(np.value, 'spec', 'podSelector', 'matchLabels'), pod.labels));
    const open = objects(at(np.value, 'spec', 'ingress'), 'ingress').flatMap((r) => objects(r['ports'], 'ports').map((pt) => pt['port']));
    const { config } = podConfig(pod, all);
    assert.deepEqual(open.sort(), [8080, portOf(config.adminListen)].sort());
    assert.ok(!open.includes(portOf(config.listen)));
  });
});

describe('Central mode', () => {
  const deployment = find('kubernetes/central', 'Deployment');
  const pod = podTemplate(deployment);
  const { config } = podConfig(pod, all);

  it('listens on 0.0.0.0:9191 with TLS files from the mounted Secret', () => {
    assert.equal(config.listen, '0.0.0.0:9191');
    assert.ok(config.tls, 'tls is set');
    const container = ours(pod);
    const mounts = objects(container['volumeMounts'], 'volumeMounts');
    for (const file of [config.tls.certFile, config.tls.keyFile]) {
      const mount = mounts.find((m) => file.startsWith(`${str(m['mountPath'], 'mountPath')}/`));
      assert.ok(mount, `${file} is inside a mount`);
      const volume = pod.volumes.find((v) => v['name'] === mount['name']);
      assert.equal(at(volume, 'secret', 'secretName'), 'jwt-ext-authz-tls', `${file} comes from the TLS Secret`);
      // kubernetes.io/tls Secrets hold tls.crt and tls.key.
      assert.match(file, /\/tls\.(crt|key)$/);
    }
    // The key is readable by the service's group only (0440, fsGroup 1000).
    assert.equal(at(pod.volumes.find((v) => isObject(v['secret'])), 'secret', 'defaultMode'), 0o440);
    assert.equal(at(pod.spec, 'securityContext', 'fsGroup'), 1000);
  });

  it('exposes the listener through a ClusterIP and a headless Service whose ports lead to it', () => {
    const services = inDir('kubernetes/central').filter((o) => o.kind === 'Service');
    assert.deepEqual(services.map((s) => s.name).sort(), ['jwt-ext-authz', 'jwt-ext-authz-headless']);
    for (const s of services) {
      assert.equal(s.namespace, deployment.namespace);
      assert.ok(selects(at(s.value, 'spec', 'selector'), pod.labels), `${ref(s)} selects the pods`);
      const port = objects(at(s.value, 'spec', 'ports'), 'ports')[0];
      assert.equal(port?.['port'], 9191);
      assert.equal(port?.['appProtocol'], 'grpc');
      assert.equal(containerPort(ours(pod), str(port?.['targetPort'], 'targetPort')), portOf(config.listen));
    }
    assert.equal(at(services.find((s) => s.name === 'jwt-ext-authz-headless')?.value, 'spec', 'clusterIP'), 'None');
  });

  it('scales the Deployment with an autoscaling/v2 HPA and keeps a pod through disruptions', () => {
    const hpa = find('kubernetes/central', 'HorizontalPodAutoscaler');
    assert.deepEqual(at(hpa.value, 'spec', 'scaleTargetRef'), { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.name });
    assert.ok(num(at(hpa.value, 'spec', 'minReplicas'), 'minReplicas') >= 2);
    assert.equal(at(deployment.value, 'spec', 'replicas'), undefined, 'the HPA owns replicas');
    const pdb = find('kubernetes/central', 'PodDisruptionBudget');
    assert.ok(selects(at(pdb.value, 'spec', 'selector', 'matchLabels'), pod.labels));
    assert.ok(num(at(pdb.value, 'spec', 'minAvailable'), 'minAvailable') < num(at(hpa.value, 'spec', 'minReplicas'), 'minReplicas'),
      'a drain can always evict one pod');
  });

  it('admits traffic to exactly the gRPC and admin ports', () => {
    const np = find('kubernetes/central', 'NetworkPolicy');
    assert.ok(selects(at(np.value, 'spec', 'podSelector', 'matchLabels'), pod.labels));
    const open = objects(at(np.value, 'spec', 'ingress'), 'ingress').flatMap((r) => objects(r['ports'], 'ports').map((pt) => pt['port']));
    assert.deepEqual(open.sort(), [portOf(config.listen), portOf(config.adminListen)].sort());
  });

  it('puts every namespaced object in the jwt-ext-authz Namespace it creates', () => {
    const ns = find('kubernetes/central', 'Namespace');
    for (const o of inDir('kubernetes/central').filter((x) => x.kind !== 'Namespace')) assert.equal(o.namespace, ns.name, ref(o));
  });
});
