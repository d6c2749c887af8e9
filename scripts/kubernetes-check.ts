// Renders deploy/kubernetes's overlays with `kubectl kustomize` and checks every object offline:
// against the Kubernetes schemas (kubernetes-models: types, required fields, formats), for
// unknown fields (the same models' TypeScript types, whose excess-property check is exact), and
// against Bazaar's own rules (probes, resources, the "restricted" security settings).
import { execFile } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

const run = promisify(execFile);
export const root = fileURLToPath(new URL("..", import.meta.url));
export const overlaysDir = join(root, "deploy/kubernetes/overlays");

// biome-ignore lint/suspicious/noExplicitAny: a rendered Kubernetes object, checked field by field.
export type K8sObject = any;

/** The kustomize in kubectl, when there is one that reads our kustomizations (v4 or later). */
export async function kustomizeVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run("kubectl", ["version", "--client", "-o", "json"]);
    const version: string | undefined = JSON.parse(stdout).kustomizeVersion;
    return version && Number(/^v(\d+)/.exec(version)?.[1]) >= 4 ? version : undefined;
  } catch {
    return undefined;
  }
}

export async function overlays(): Promise<string[]> {
  const entries = await readdir(overlaysDir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

export async function render(overlay: string): Promise<K8sObject[]> {
  const { stdout } = await run("kubectl", ["kustomize", join(overlaysDir, overlay)]);
  return parseAllDocuments(stdout).map((doc) => doc.toJS());
}

const describe = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;

/** Where kubernetes-models keeps the model of an apiVersion and kind, e.g. apps/v1/Deployment. */
function modelPath(o: K8sObject): string {
  return `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

/** Schema errors per object: wrong types, missing required fields, unknown kinds. */
async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const o of objects) {
    try {
      const module = await import(modelPath(o));
      new module[o.kind](o).validate();
    } catch (error) {
      errors.push(`${describe(o)}: ${(error as Error).message.split("\n").slice(0, 4).join(" ")}`);
    }
  }
  return errors;
}

/**
 * Unknown fields: each object as an object literal of its model's interface, type-checked by
 * tsc, which names every property the type does not have.
 */
async function unknownFieldErrors(objects: K8sObject[]): Promise<string[]> {
  const dir = join(root, "node_modules/.cache/bazaar-kubernetes-check");
  await mkdir(dir, { recursive: true });
  const lines: string[] = [];
  objects.forEach((o, i) => {
    lines.push(`import type { I${o.kind} as T${i} } from "${modelPath(o)}";`);
  });
  const owners: string[] = [];
  objects.forEach((o, i) => {
    const literal = `// ${describe(o)}\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`;
    for (const line of literal.split("\n")) {
      lines.push(line);
      owners[lines.length] = describe(o);
    }
  });
  await writeFile(join(dir, "objects.ts"), `${lines.join("\n")}\n`);
  const config = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      types: [],
      skipLibCheck: true,
    },
    files: ["objects.ts"],
  };
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify(config));
  const tsc = join(root, "node_modules/.bin/tsc");
  const result = await run(tsc, ["-p", join(dir, "tsconfig.json")]).then(
    () => "",
    (error: { stdout?: string }) => error.stdout ?? String(error),
  );
  return result
    .split("\n")
    .filter((l) => l.includes("error TS"))
    .map((l) => {
      const line = Number(/\((\d+),\d+\)/.exec(l)?.[1]);
      return `${owners[line] ?? "?"}: ${l.replace(/^.*error TS\d+: /, "")}`;
    });
}

/** Bazaar's own rules for every pod it runs. */
function ruleErrors(objects: K8sObject[]): string[] {
  const errors: string[] = [];
  const fail = (o: K8sObject, message: string) => errors.push(`${describe(o)}: ${message}`);
  if (objects.some((o) => o.kind === "Secret")) {
    errors.push("a Secret is rendered: secrets are applied separately, never by kustomize");
  }
  for (const d of objects.filter((o) => o.kind === "Deployment")) {
    const pod = d.spec?.template?.spec ?? {};
    if (pod.automountServiceAccountToken !== false) fail(d, "automountServiceAccountToken");
    if (pod.securityContext?.runAsNonRoot !== true) fail(d, "runAsNonRoot");
    if (pod.securityContext?.seccompProfile?.type !== "RuntimeDefault") fail(d, "seccompProfile");
    for (const c of pod.containers ?? []) {
      for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
        if (!c[probe]) fail(d, `container ${c.name} has no ${probe}`);
      }
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory) {
        fail(d, `container ${c.name} has no cpu and memory requests`);
      }
      if (!c.resources?.limits?.memory) fail(d, `container ${c.name} has no memory limit`);
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) fail(d, `${c.name}: allowPrivilegeEscalation`);
      if (!sc.capabilities?.drop?.includes("ALL")) fail(d, `${c.name}: capabilities.drop ALL`);
      if (sc.readOnlyRootFilesystem !== true) fail(d, `${c.name}: readOnlyRootFilesystem`);
    }
    const kinds = ["Service", "PodDisruptionBudget"];
    for (const kind of kinds) {
      if (!objects.some((o) => o.kind === kind && o.metadata.name === d.metadata.name)) {
        fail(d, `has no ${kind}`);
      }
    }
  }
  return errors;
}

/** Every problem with a rendered overlay, as "Kind/name: what" lines; empty when it is sound. */
export async function check(objects: K8sObject[]): Promise<string[]> {
  return [
    ...(await schemaErrors(objects)),
    ...(await unknownFieldErrors(objects)),
    ...ruleErrors(objects),
  ];
}
