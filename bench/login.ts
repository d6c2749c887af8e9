// `npx tsx bench/login.ts`: what a Login costs, the throttle included, on real PostgreSQL
// (TEST_DATABASE_URL): sequential successful logins, then sequential wrong passwords, each
// through the account service's handlers (in-memory transport, so no network in the figure),
// then the throttle's two statements alone.
//
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test npx tsx bench/login.ts [-- --logins 300]
import { hashPassword } from "../services/account/passwords.js";
import { openAccountTestbed } from "../services/account/testing.js";
import { benchOptions } from "./options.js";

const options = benchOptions("bench/login.ts", {
  logins: { default: 300, help: "logins of each kind" },
});
const bed = await openAccountTestbed();
const email = "bench-login@example.com";
const password = "bench-login-password";
await bed.store.createIfAbsent({
  name: "Bench",
  email,
  role: "customer",
  passwordHash: await hashPassword(password),
});

const time = async (n: number, login: (i: number) => Promise<unknown>) => {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    await login(i).catch(() => {});
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
  return `mean ${mean.toFixed(2)} ms, p50 ${(ms[Math.floor(n / 2)] ?? 0).toFixed(2)} ms`;
};
// Warm-up: argon2's first calls and the prepared statements.
await time(20, () => bed.client.login({ email, password }));
const ok = await time(options.logins, () => bed.client.login({ email, password }));
const wrong = await time(options.logins, (i) =>
  bed.client.login({ email: `nobody-${i}@example.com`, password: "not-the-password" }),
);
// The throttle's own statements, alone: what it adds to each login.
const check = await time(options.logins, (i) => bed.throttle.check(`nobody-${i}@example.com x`));
const record = await time(options.logins, (i) =>
  bed.throttle.recordFailure(`bench-${i}@example.com x`),
);
await bed.close();
process.stdout.write(
  `${options.logins} logins each: successful ${ok}; wrong password (unknown emails) ${wrong}\n` +
    `throttle alone: check ${check}; recordFailure ${record}\n`,
);
