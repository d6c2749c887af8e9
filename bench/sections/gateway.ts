// `npm run bench`'s gateway section: bench:gateway's scenarios read back into rows, each
// beside the scenario that is its reference in the same run.
import { pairedLine } from "../gateway-paired.js";
import { names } from "../gateway-scenarios.js";
import { hiveScenarios } from "../hive.js";
import { num, row, script, times } from "../report.js";

export async function gateway(seconds: number): Promise<void> {
  const out = await script("bench/gateway.ts", ["--seconds", String(seconds)]);
  const rps = (name: string) =>
    num(out, new RegExp(`^${name.replace(/[()]/g, "\\$&")}\\s+(\\d+) req/s`, "m"));
  // The median of the paired rounds (bench/gateway-paired.ts), where a figure has them.
  const paired = new Map<string, string>();
  for (const line of out.split("\n")) {
    const match = pairedLine.exec(line);
    if (match) paired.set(`${match[1]} / ${match[2]}`, `${match[3]} × (${match[4]}–${match[5]})`);
  }
  const compare = (figure: string, name: string, reference: string, target: string) => {
    const rounds = paired.get(`${name} / ${reference}`);
    row(
      figure,
      `${rps(name).toFixed(0)} req/s`,
      `${reference}: ${rps(reference).toFixed(0)} req/s`,
      `${times(rps(name), rps(reference))}${rounds ? `; paired rounds: ${rounds}` : ""}`,
      target,
    );
  };
  row(
    "bare node:http server",
    `${rps(names.bare).toFixed(0)} req/s`,
    "the machine's ceiling",
    "",
    "",
  );
  compare("direct Connect GetProduct", names.getProduct, names.bare, "≥ 0.10 ×");
  // The least Yoga costs a request (bench/hop.ts): with the split rows below, why a target
  // is out of a Yoga gateway's reach, when it is.
  compare(
    "Yoga alone: `{ ok }`, the gateway's options, no plugins",
    names.yogaAlone,
    names.bare,
    "",
  );
  /** bench/gateway.ts's split of the gateway's CPU per request, for scenario `name`. */
  const split = (figure: string, name: string) => {
    const line = new RegExp(
      `^\\s+${name}: gateway CPU per request (\\d+) µs = the hop's (\\d+) \\+ Yoga alone's (\\d+) \\+ (-?\\d+) of our own; the hop with Yoga alone's CPU added ≈ ([\\d.]+)× direct`,
      "m",
    ).exec(out);
    row(
      figure,
      line ? `${line[1]} µs of gateway CPU per request` : "not measured",
      line ? `the hop's ${line[2]} + Yoga alone's ${line[3]} + ${line[4]} of our own` : "",
      line ? `a gateway of the hop and Yoga alone ≈ ${line[5]} × direct (estimate)` : "",
      "",
    );
  };
  compare("gateway products(take:20), the same page", names.flat, names.direct, "≥ 1.0 ×");
  compare(
    "gateway products(take:20), each request a different page",
    names.flatDistinct,
    names.directDistinct,
    "≥ 0.75 ×",
  );
  compare(
    "the same over connect-h2 (BACKEND_PROTOCOL, one h2c session per service)",
    names.flatDistinctH2,
    names.directDistinct,
    "≥ 0.75 ×",
  );
  // The hop alone (bench/hop.ts): the gateway's backend call and JSON answer without GraphQL,
  // the most any gateway can reach; and ours against it, what GraphQL costs beyond the hop.
  compare(
    "the hop alone (bench/hop.ts), each request a different page",
    names.hopDistinct,
    names.directDistinct,
    "",
  );
  compare(
    "gateway products(take:20), distinct pages, against the hop alone",
    names.flatDistinct,
    names.hopDistinct,
    "",
  );
  split("gateway products(take:20), distinct pages: where its CPU goes", names.flatDistinct);
  compare("gateway over gRPC backends", names.grpc, names.flat, "");
  compare("gateway 3-level nested query, the same page", names.nested, names.threeRpcs, "≥ 0.8 ×");
  compare(
    "gateway 3-level nested query, each request a different page",
    names.nestedDistinct,
    names.threeRpcsDistinct,
    "≥ 0.8 ×",
  );
  compare("the same over connect-h2", names.nestedDistinctH2, names.threeRpcsDistinct, "≥ 0.8 ×");
  compare(
    "the hop alone, the nested query's 3 calls, distinct pages",
    names.hopNestedDistinct,
    names.threeRpcsDistinct,
    "",
  );
  compare(
    "gateway nested query, distinct pages, against the hop alone",
    names.nestedDistinct,
    names.hopNestedDistinct,
    "",
  );
  split("gateway nested query, distinct pages: where its CPU goes", names.nestedDistinct);
  compare(
    "createOrder through the gateway, 64 connections",
    names.createOrder,
    names.directCreateOrder,
    "≥ 0.8 ×",
  );
  compare("the same over connect-h2", names.createOrderH2, names.directCreateOrder, "≥ 0.8 ×");
  compare("the hop alone, createOrder", names.hopCreateOrder, names.directCreateOrder, "");
  compare(
    "createOrder through the gateway, against the hop alone",
    names.createOrder,
    names.hopCreateOrder,
    "",
  );
  split("createOrder through the gateway: where its CPU goes", names.createOrder);
  // Issue 10's outside reference: Hive Gateway over the same catalog; here ours is the figure
  // and Hive the reference, on the same page and on distinct pages.
  for (const source of ["connect-json", "grpc"] as const) {
    const scenario = hiveScenarios[source];
    for (const [ours, hive, pages] of [
      [names.flat, scenario.name, "the same page"],
      [names.flatDistinct, scenario.pagedName, "distinct pages"],
    ] as const) {
      const skipped = out.match(
        new RegExp(`^${scenario.name.replace(/[()]/g, "\\$&")}\\s+not measured: (.*)`, "m"),
      )?.[1];
      row(
        `our gateway against ${scenario.label}, ${pages}`,
        `${rps(ours).toFixed(0)} req/s`,
        skipped
          ? `${scenario.label}: not measured (${skipped})`
          : `${scenario.label}: ${rps(hive).toFixed(0)} req/s`,
        skipped ? "—" : times(rps(ours), rps(hive)),
        "≥ 10 ×",
      );
    }
  }
}
