// Makes Ed25519 signing keys for production (npm run keys [-- service …]): per service its
// private JWK (that service's AUTH_PRIVATE_KEY, for it alone) and the JWK Set of the public
// keys (every service's AUTH_PUBLIC_KEYS). Output is .env lines, e.g. for docker compose.
import { generateSigningKey, isServiceName, signingServices } from "../platform/auth/keys.js";

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !isServiceName(name));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown service ${unknown.join(", ")}: choose from ${signingServices.join(", ")}\n`,
  );
  process.exit(2);
}
const services = wanted.length > 0 ? wanted.filter(isServiceName) : [...signingServices];
const made = services.map((service) => ({ service, ...generateSigningKey(service) }));
for (const { service, privateJwk } of made) {
  process.stdout.write(`${service.toUpperCase()}_PRIVATE_KEY='${JSON.stringify(privateJwk)}'\n`);
}
// When rotating one service's key, add its new public key to the existing set: keep the old
// one listed until that service runs with the new private key everywhere.
const publicKeys = { keys: made.map(({ key }) => key.publicJwk) };
process.stdout.write(`AUTH_PUBLIC_KEYS='${JSON.stringify(publicKeys)}'\n`);
