// The AccountService handlers: validate, check who may do it, call the store, map errors.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  type Account,
  AccountSchema,
  AccountService,
  Role,
} from "../../gen/bazaar/account/v1/account_pb.js";
import {
  requireAdmin,
  requireCaller,
  requireService,
  type TokenSigner,
} from "../../platform/auth/auth.js";
import { inRequestOrder } from "../../platform/collections.js";
import { isUuid } from "../../platform/data/ids.js";
import { clientAddressOf } from "../../platform/http/client-address.js";
import { invalidArgument, validate } from "../../platform/http/validation.js";
import {
  batchGetAccountsRequest,
  createAccountRequest,
  getAccountRequest,
  getTokenVersionRequest,
  listAccountsRequest,
  loginRequest,
  mayChange,
  mayRead,
  needsCurrentPassword,
  updateAccountRequest,
} from "./domain.js";
import { decoyHash, hashPassword, verifyPassword } from "./passwords.js";
import { type AccountStore, type AccountView, EmailTakenError } from "./store.js";
import type { FailureThrottle, RateLimit } from "./throttle.js";

export interface AccountServiceDeps {
  store: AccountStore;
  /** The account service's own key: the only one user tokens are accepted from. */
  signer: TokenSigner;
  tokenTtlSeconds: number;
  /** Wrong passwords, at Login and at UpdateAccount, per (email or account, client); shared by every replica. */
  throttle: FailureThrottle;
  /** Sign-ups per client address; shared by every replica. */
  signups: RateLimit;
}

/** The throttle's key for password guesses about `subject` (an email or account id). */
export function guessKey(subject: string, client: string): string {
  return `${subject} ${client}`;
}

export function accountRoutes(deps: AccountServiceDeps) {
  return (router: ConnectRouter) => router.service(AccountService, accountService(deps));
}

export function accountService(deps: AccountServiceDeps): ServiceImpl<typeof AccountService> {
  const { store } = deps;
  return {
    async createAccount(req, ctx) {
      const input = validate(createAccountRequest, req);
      // Browsers call this directly, so the gateway is not the only door to guard.
      const waitMs = await deps.signups.take(clientAddressOf(ctx));
      if (waitMs > 0) {
        throw new ConnectError(
          `too many sign-ups from this address; try again in ${Math.ceil(waitMs / 1000)} s`,
          Code.ResourceExhausted,
        );
      }
      const passwordHash = await hashPassword(input.password);
      try {
        const record = await store.create({ ...input, role: "customer", passwordHash });
        return { account: toAccount(record) };
      } catch (error) {
        if (error instanceof EmailTakenError) {
          throw new ConnectError("an account with this email already exists", Code.AlreadyExists);
        }
        throw error;
      }
    },

    async getAccount(req, ctx) {
      const { id } = validate(getAccountRequest, req);
      const caller = requireCaller(ctx);
      if (!mayRead(caller, id))
        throw new ConnectError("you may read only your own account", Code.PermissionDenied);
      const record = await store.findById(id);
      if (!record) throw notFound(id);
      return { account: toAccount(record) };
    },

    async batchGetAccounts(req, ctx) {
      const { ids } = validate(batchGetAccountsRequest, req);
      const caller = requireCaller(ctx);
      // A malformed id names no account, so like an unknown one it is simply absent.
      const wanted = ids.map((id) => id.toLowerCase()).filter(isUuid);
      const denied = wanted.find((id) => !mayRead(caller, id));
      if (denied)
        throw new ConnectError(`you may not read account ${denied}`, Code.PermissionDenied);
      const found = await store.findByIds([...new Set(wanted)]);
      return { accounts: inRequestOrder(wanted, found, (r) => r.id).map(toAccount) };
    },

    async listAccounts(req, ctx) {
      const { skip, take } = validate(listAccountsRequest, req);
      requireAdmin(ctx);
      return { accounts: (await store.list(skip, take)).map(toAccount) };
    },

    async updateAccount(req, ctx) {
      const input = validate(updateAccountRequest, req);
      const caller = requireCaller(ctx);
      if (!mayChange(caller, input.id)) {
        throw new ConnectError("you may change only your own account", Code.PermissionDenied);
      }
      if (input.currentPassword !== undefined && input.newPassword === undefined) {
        throw invalidArgument([
          { field: "new_password", description: "is required with current_password" },
        ]);
      }
      const record = await store.findById(input.id);
      if (!record) throw notFound(input.id);
      const changes: { name?: string; passwordHash?: string } = {};
      if (input.name !== undefined) changes.name = input.name;
      if (input.newPassword !== undefined) {
        if (needsCurrentPassword(caller, input.id)) {
          if (input.currentPassword === undefined) {
            throw invalidArgument([
              { field: "current_password", description: "is required to change the password" },
            ]);
          }
          const key = guessKey(input.id, clientAddressOf(ctx));
          const seen = await throwIfThrottled(deps.throttle, key, "wrong current passwords");
          if (!(await verifyPassword(record.passwordHash, input.currentPassword))) {
            await deps.throttle.recordFailure(key);
            throw invalidArgument([
              { field: "current_password", description: "is not the current password" },
            ]);
          }
          if (seen.failures > 0) await deps.throttle.recordSuccess(key);
        }
        changes.passwordHash = await hashPassword(input.newPassword);
      }
      if (Object.keys(changes).length === 0) return { account: toAccount(record) };
      const updated = await store.update(input.id, changes);
      if (!updated) throw notFound(input.id);
      return { account: toAccount(updated) };
    },

    async login(req, ctx) {
      const { email, password } = validate(loginRequest, req);
      const key = guessKey(email, clientAddressOf(ctx));
      // The check and the account's lookup go to the database side by side.
      const [seen, record] = await Promise.all([
        throwIfThrottled(deps.throttle, key, "failed logins for this email"),
        store.findByEmail(email),
      ]);
      // An unknown email still pays for one verification, so timing does not tell them apart.
      const valid = await verifyPassword(record?.passwordHash ?? (await decoyHash()), password);
      if (!record || !valid) {
        await deps.throttle.recordFailure(key);
        throw new ConnectError("wrong email or password", Code.Unauthenticated);
      }
      // A success forgets earlier failures; with none (the usual login) there is nothing to clear.
      if (seen.failures > 0) await deps.throttle.recordSuccess(key);
      const { token, expiresAt } = await deps.signer.issueUserToken(
        record.id,
        record.role,
        record.tokenVersion,
        deps.tokenTtlSeconds,
      );
      return {
        accessToken: token,
        expireTime: timestampFromDate(expiresAt),
        account: toAccount(record),
      };
    },

    async getTokenVersion(req, ctx) {
      const { accountId } = validate(getTokenVersionRequest, req);
      requireService(ctx, "order", "catalog");
      return { tokenVersion: await store.tokenVersion(accountId) };
    },
  };
}

/** The key's failures so far, unless it must wait: then RESOURCE_EXHAUSTED saying how long. */
async function throwIfThrottled(
  throttle: FailureThrottle,
  key: string,
  what: string,
): Promise<{ failures: number }> {
  const { waitMs, failures } = await throttle.check(key);
  if (waitMs > 0) {
    throw new ConnectError(
      `too many ${what}; try again in ${Math.ceil(waitMs / 1000)} s`,
      Code.ResourceExhausted,
    );
  }
  return { failures };
}

export function toAccount(record: AccountView): Account {
  return create(AccountSchema, {
    id: record.id,
    name: record.name,
    email: record.email,
    role: record.role === "admin" ? Role.ADMIN : Role.CUSTOMER,
    createTime: timestampFromDate(record.createTime),
  });
}

function notFound(id: string): ConnectError {
  return new ConnectError(`account ${id} not found`, Code.NotFound);
}
