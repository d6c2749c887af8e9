// `npm run token`: logs in against the account service and prints only the access token, for
// `TOKEN=$(npm run -s token)`. A failed login prints one clear line on stderr and exits 1, so
// a script stops there instead of sending an empty token on.
//   npm run -s token                          the development admin
//   npm run -s token -- ada@example.com pw    someone else
//   ACCOUNT_URL=http://host:50051 npm run -s token
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AccountService } from "../gen/bazaar/account/v1/account_pb.js";
import { localUrl } from "../platform/processes.js";
import { developmentAdmin } from "../services/account/config.js";

const [email = process.env.ADMIN_EMAIL ?? developmentAdmin.email, given] = process.argv.slice(2);
const password =
  given ??
  (email === (process.env.ADMIN_EMAIL ?? developmentAdmin.email)
    ? (process.env.ADMIN_PASSWORD ?? developmentAdmin.password)
    : undefined);
const url =
  process.env.ACCOUNT_URL ??
  (process.env.ACCOUNT_PORT
    ? localUrl("account", Number(process.env.ACCOUNT_PORT))
    : localUrl("account"));

function fail(message: string): never {
  process.stderr.write(`token: ${message}\n`);
  process.exit(1);
}

if (password === undefined) fail(`give the password too: npm run -s token -- ${email} <password>`);
const accounts = createClient(
  AccountService,
  createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
);
try {
  const { accessToken } = await accounts.login({ email, password }, { timeoutMs: 10_000 });
  process.stdout.write(`${accessToken}\n`);
} catch (error) {
  const e = ConnectError.from(error);
  if (e.code === Code.Unavailable || e.code === Code.DeadlineExceeded) {
    fail(`the account service at ${url} does not answer (is \`npm start\` running?)`);
  }
  fail(`login as ${email} failed: ${e.rawMessage} (${Code[e.code]})`);
}
