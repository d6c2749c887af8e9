// Every Kubernetes overlay renders with kustomize and every object in it passes the offline
// checks of kubernetes-check.ts; a deliberately broken copy proves those checks can fail.
import { beforeAll, describe, expect, it } from "vitest";
import { check, type K8sObject, kustomizeVersion, overlays, render } from "./kubernetes-check.js";

const version = await kustomizeVersion();
const names = await overlays();

const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);

/** Memory quantities in MiB ("320Mi", "1Gi"). */
const mebibytes = (q: string) => Number.parseInt(q, 10) * (q.endsWith("Gi") ? 1024 : 1);

describe.skipIf(!version)(`Kubernetes overlays (kustomize ${version})`, () => {
  it("has a development and a production overlay", () => {
    expect(names.sort()).toEqual(["development", "production"]);
  });

  describe.each(names)("%s", (overlay) => {
    let objects: K8sObject[];
    beforeAll(async () => {
      objects = await render(overlay);
    });

    it("passes the schema, unknown-field and pod rules", async () => {
      expect(await check(objects)).toEqual([]);
    }, 60_000);

    it("runs the five processes, autoscales the gateway and the catalog", () => {
      const deployments = objects
        .filter((o) => o.kind === "Deployment")
        .map((o) => o.metadata.name);
      expect(deployments.sort()).toEqual(["account", "catalog", "gateway", "order", "web"]);
      const hpas = objects.filter((o) => o.kind === "HorizontalPodAutoscaler");
      expect(hpas.map((h) => h.spec.scaleTargetRef.name).sort()).toEqual(["catalog", "gateway"]);
      // The autoscaler owns those counts: a replicas field would fight it on every apply.
      expect(find(objects, "Deployment", "gateway").spec.replicas).toBeUndefined();
      expect(find(objects, "Deployment", "catalog").spec.replicas).toBeUndefined();
    });

    it("keeps two replicas of each, drained before they stop (docs/state-and-replicas.md)", () => {
      const config = find(objects, "ConfigMap", "bazaar").data;
      for (const name of ["account", "catalog", "order", "gateway", "web"]) {
        const deployment = find(objects, "Deployment", name);
        const hpa = find(objects, "HorizontalPodAutoscaler", name);
        // The development overlay runs one pod each on purpose (a small cluster to try it on).
        if (overlay !== "development") {
          expect(hpa?.spec.minReplicas ?? deployment.spec.replicas, name).toBeGreaterThanOrEqual(2);
        }
        const budget = objects.find(
          (o) =>
            o.kind === "PodDisruptionBudget" &&
            o.spec.selector.matchLabels["app.kubernetes.io/name"] === name,
        );
        expect(budget?.spec.maxUnavailable, `${name}'s PodDisruptionBudget`).toBe(1);
        expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
        const pod = deployment.spec.template.spec;
        const [container] = pod.containers;
        const env = (key: string) =>
          Number(container.env?.find((e: K8sObject) => e.name === key)?.value ?? config[key] ?? 0);
        // The drain: the process's own (SHUTDOWN_DRAIN_MS) or a preStop pause, then the grace.
        const pauseMs = container.lifecycle?.preStop ? 5_000 : env("SHUTDOWN_DRAIN_MS");
        expect(pauseMs, `${name} leaves rotation before it stops accepting`).toBeGreaterThan(0);
        expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
          pauseMs + env("SHUTDOWN_GRACE_MS"),
        );
        const { periodSeconds, failureThreshold } = container.readinessProbe;
        if (!container.lifecycle?.preStop) {
          expect(periodSeconds * failureThreshold * 1000, `${name} unready in time`).toBeLessThan(
            pauseMs,
          );
        }
      }
      for (const hpa of objects.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
        expect(hpa.spec.behavior.scaleDown.policies).toEqual([
          { type: "Pods", value: 1, periodSeconds: 60 },
        ]);
      }
    });

    it("gives the gateway more memory than it holds idle (~280 MB)", () => {
      const [gateway] = find(objects, "Deployment", "gateway").spec.template.spec.containers;
      expect(mebibytes(gateway.resources.requests.memory)).toBeGreaterThan(280);
    });

    it("lets each process be called only by the processes docs/operations.md names", () => {
      const callers = (name: string) => {
        const policy = find(objects, "NetworkPolicy", `${name}-ingress`);
        return policy.spec.ingress.flatMap((rule: K8sObject) =>
          rule.from
            ? rule.from.map((f: K8sObject) => f.podSelector.matchLabels["app.kubernetes.io/name"])
            : ["anyone"],
        );
      };
      expect(callers("gateway")).toEqual(["anyone"]);
      expect(callers("web")).toEqual(["anyone"]);
      expect(callers("catalog")).toEqual(["gateway", "order", "web"]);
      expect(callers("account")).toEqual(["gateway", "order", "catalog", "web"]);
      expect(callers("order")).toEqual(["gateway", "catalog", "web"]);
      // The storefront forwards the page's calls, to the services' in-cluster addresses.
      const [web] = find(objects, "Deployment", "web").spec.template.spec.containers;
      const env = (name: string) => web.env.find((e: K8sObject) => e.name === name);
      expect(env("PAGE_SERVICES").value).toBe("proxy");
      expect(env("CATALOG_URL").valueFrom.configMapKeyRef).toEqual({
        name: "bazaar",
        key: "CATALOG_URL",
      });
      const egress = find(objects, "NetworkPolicy", "web-egress").spec.egress;
      expect(
        egress.flatMap((rule: K8sObject) =>
          rule.to.map((t: K8sObject) => t.podSelector.matchLabels["app.kubernetes.io/name"]),
        ),
      ).toEqual(["account", "catalog", "order"]);
      const deny = find(objects, "NetworkPolicy", "bazaar-default-deny");
      expect(deny.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    });
  });

  it("fails a broken manifest: an unknown field, a missing probe, a wrong type", async () => {
    const objects: K8sObject[] = structuredClone(await render("development"));
    const [container] = find(objects, "Deployment", "catalog").spec.template.spec.containers;
    container.readinesProbe = container.readinessProbe; // a typo kubectl would reject
    delete container.readinessProbe;
    find(objects, "Service", "order").spec.ports[0].port = "fifty";
    const errors = await check(objects);
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^Deployment\/catalog: .*readinesProbe.* does not exist in type 'IContainer'/,
        ),
        "Deployment/catalog: container catalog has no readinessProbe",
        expect.stringMatching(/^Service\/order: .*ports\/0\/port must be integer/),
      ]),
    );
  }, 60_000);
});

if (!version) {
  // CI installs kubectl (.ci/run); a laptop without one is told here rather than failing.
  it.skip("Kubernetes overlays: not rendered, no kubectl with kustomize v4 or later on PATH", () => {});
}
