import { present } from "../errors.js";
import type { AuthPayloadResolvers } from "../generated/resolvers.js";

export const AuthPayload: AuthPayloadResolvers = {
  token: (res) => res.accessToken,
  expiresAt: (res) => res.expireTime ?? new Date(0),
  account: (res) => present(res.account, "account"),
};
