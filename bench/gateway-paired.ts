// Paired rounds for bench:gateway's target ratios. A figure and its reference measured once each
// are minutes apart, and on a shared 2-core machine the same scenario moved by up to a third
// from one run to the next (createOrder through the gateway against direct CreateOrder: 0.49,
// 0.59, 0.68 and 0.52 × in four runs of the same code, one after the other). Here each group's
// scenarios run one after the other, round after round, forward then backward, so that a drift
// of the machine weighs on the figure and its reference alike; each round gives each figure's
// ratio to the group's reference (its first scenario), and the median of the rounds is printed.
import { names } from "./gateway-scenarios.js";
import type { Result, Target } from "./load.js";

/** Each group's first scenario is the reference of the others. */
export const pairedGroups: readonly (readonly string[])[] = [
  [names.direct, names.flat],
  [names.directDistinct, names.flatDistinct, names.hopDistinct],
  [names.threeRpcsDistinct, names.nestedDistinct, names.hopNestedDistinct],
  [names.directCreateOrder, names.createOrder, names.hopCreateOrder],
];

/** The printed line of one figure's paired ratio (bench/sections/gateway.ts reads it back). */
export const pairedLine = /^paired: (.+?) \/ (.+?) = ([\d.]+)× median \(([\d.]+)–([\d.]+),/;

/**
 * Runs each group (of those whose scenarios all are in `targets`) `rounds` times for `seconds`
 * per scenario, and returns a line per figure: the median of its per-round ratios to its
 * reference, and their range.
 */
export async function pairedRounds(
  targets: readonly Target[],
  run: (target: Target, seconds: number) => Promise<Result>,
  rounds: number,
  seconds: number,
): Promise<string[]> {
  const byName = new Map(targets.map((target) => [target.name, target]));
  const lines: string[] = [];
  for (const group of pairedGroups) {
    const members = group.map((name) => byName.get(name));
    if (members.some((target) => target === undefined)) continue;
    const ratios: number[][] = group.slice(1).map(() => []);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? members : [...members].reverse();
      const rps = new Map<string, number>();
      for (const target of order as Target[])
        rps.set(target.name, (await run(target, seconds)).rps);
      const reference = rps.get(group[0] as string) ?? Number.NaN;
      group.slice(1).forEach((name, i) => {
        ratios[i]?.push((rps.get(name) ?? Number.NaN) / reference);
      });
    }
    group.slice(1).forEach((name, i) => {
      const sorted = [...(ratios[i] ?? [])].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
      lines.push(
        `paired: ${name} / ${group[0]} = ${median.toFixed(2)}× median (${(sorted[0] ?? Number.NaN).toFixed(2)}–${(sorted.at(-1) ?? Number.NaN).toFixed(2)}, ${rounds} rounds of ${seconds} s)`,
      );
    });
  }
  return lines;
}
