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
  mayActFor,
  requireAdmin,
  requireCaller,
  type TokenAuthority,
} from "../../platform/auth.js";
import { inRequestOrder } from "../../platform/collections.js";
import { isUuid } from "../../platform/ids.js";
import { invalidArgument, validate } from "../../platform/validation.js";
import {
  batchGetAccountsRequest,
  createAccountRequest,
  getAccountRequest,
  type LoginThrottle,
  listAccountsRequest,
  loginRequest,
  mayChange,
  needsCurrentPassword,
  updateAccountRequest,
} from "./domain.js";
import { decoyHash, hashPassword, verifyPassword } from "./passwords.js";
import { type AccountRecord, type AccountStore, EmailTakenError } from "./store.js";

export interface AccountServiceDeps {
  store: AccountStore;
  authority: TokenAuthority;
  tokenTtlSeconds: number;
  throttle: LoginThrottle;
}

export function accountRoutes(deps: AccountServiceDeps) {
  return (router: ConnectRouter) => router.service(AccountService, accountService(deps));
}

export function accountService(deps: AccountServiceDeps): ServiceImpl<typeof AccountService> {
  const { store } = deps;
  return {
    async createAccount(req) {
      const input = validate(createAccountRequest, req);
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
      if (!mayActFor(caller, id))
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
      const denied = wanted.find((id) => !mayActFor(caller, id));
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
          if (!(await verifyPassword(record.passwordHash, input.currentPassword))) {
            throw invalidArgument([
              { field: "current_password", description: "is not the current password" },
            ]);
          }
        }
        changes.passwordHash = await hashPassword(input.newPassword);
      }
      if (Object.keys(changes).length === 0) return { account: toAccount(record) };
      const updated = await store.update(input.id, changes);
      if (!updated) throw notFound(input.id);
      return { account: toAccount(updated) };
    },

    async login(req) {
      const { email, password } = validate(loginRequest, req);
      const waitMs = deps.throttle.retryAfter(email);
      if (waitMs > 0) {
        throw new ConnectError(
          `too many failed logins for this email; try again in ${Math.ceil(waitMs / 1000)} s`,
          Code.ResourceExhausted,
        );
      }
      const record = await store.findByEmail(email);
      // An unknown email still pays for one verification, so timing does not tell them apart.
      const valid = await verifyPassword(record?.passwordHash ?? (await decoyHash()), password);
      if (!record || !valid) {
        deps.throttle.recordFailure(email);
        throw new ConnectError("wrong email or password", Code.Unauthenticated);
      }
      deps.throttle.recordSuccess(email);
      const { token, expiresAt } = await deps.authority.issueUserToken(
        record.id,
        record.role,
        deps.tokenTtlSeconds,
      );
      return {
        accessToken: token,
        expireTime: timestampFromDate(expiresAt),
        account: toAccount(record),
      };
    },
  };
}

export function toAccount(record: AccountRecord): Account {
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
