// Keys and tokens for tests: one key per service, as in production, and the environment that
// hands a real service its own key and the others' public keys.
import type { Authenticated, Caller, Role, TokenVersionCheck } from "./auth.js";
import { TokenSigner, TokenVerifier } from "./auth.js";
import {
  generateSigningKey,
  KeySet,
  type ServiceName,
  type SigningKey,
  signingServices,
} from "./keys.js";

export class TestAuthority {
  readonly keys: Record<ServiceName, { key: SigningKey; privateJwk: Record<string, string> }>;
  readonly #signers: Record<ServiceName, TokenSigner>;
  readonly #verifier: TokenVerifier;

  constructor() {
    this.keys = Object.fromEntries(
      signingServices.map((service) => [service, generateSigningKey(service)]),
    ) as TestAuthority["keys"];
    this.#signers = Object.fromEntries(
      signingServices.map((service) => [service, new TokenSigner(this.keys[service].key)]),
    ) as Record<ServiceName, TokenSigner>;
    this.#verifier = this.verifier();
  }

  /** A verifier trusting every service's key, with `versions` checking user tokens if given. */
  verifier(versions?: TokenVersionCheck): TokenVerifier {
    const keys = new KeySet(signingServices.map((service) => this.keys[service].key.publicJwk));
    return new TokenVerifier(keys, versions ? { versions } : {});
  }

  verify(token: string): Promise<Caller> {
    return this.#verifier.verify(token);
  }

  authenticate(token: string): Promise<Authenticated> {
    return this.#verifier.authenticate(token);
  }

  signer(service: ServiceName): TokenSigner {
    return this.#signers[service];
  }

  /** A user token from the account service's key. */
  issueUserToken(accountId: string, role: Role, ttlSeconds: number, version = 0) {
    return this.#signers.account.issueUserToken(accountId, role, version, ttlSeconds);
  }

  issueServiceToken(service: ServiceName): Promise<string> {
    return this.#signers[service].issueServiceToken();
  }

  serviceTokenSource(service: ServiceName): () => Promise<string> {
    return this.#signers[service].serviceTokenSource();
  }

  /** What a real `service` reads: its own private key and every service's public key. */
  env(service: ServiceName): Record<string, string> {
    return {
      AUTH_PRIVATE_KEY: JSON.stringify(this.keys[service].privateJwk),
      AUTH_PUBLIC_KEYS: this.publicKeys(),
    };
  }

  publicKeys(): string {
    return JSON.stringify({ keys: signingServices.map((s) => this.keys[s].key.publicJwk) });
  }
}
