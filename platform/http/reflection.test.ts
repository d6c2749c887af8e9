// Tests for gRPC server reflection, in-process and against the real buf CLI.
import { execFile } from "node:child_process";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { create, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type ConnectRouter, createClient, createRouterTransport } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AccountService,
  file_bazaar_account_v1_account,
  Role,
} from "../../gen/bazaar/account/v1/account_pb.js";
import { file_grpc_health_v1_health } from "../../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { reflectionRoutes } from "./reflection.js";

const routes = reflectionRoutes([file_bazaar_account_v1_account, file_grpc_health_v1_health]);

type ReflectionRequestInit = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

// Sends every request on one stream and collects the answers, as a real client session would.
async function session(requests: ReflectionRequestInit[]): Promise<v1.ServerReflectionResponse[]> {
  const client = createClient(v1.ServerReflection, createRouterTransport(routes));
  async function* send() {
    for (const request of requests) yield create(v1.ServerReflectionRequestSchema, request);
  }
  const responses: v1.ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(send())) responses.push(response);
  return responses;
}

function fileNames(response: v1.ServerReflectionResponse | undefined): string[] {
  expect(response?.messageResponse.case).toBe("fileDescriptorResponse");
  if (response?.messageResponse.case !== "fileDescriptorResponse") return [];
  return response.messageResponse.value.fileDescriptorProto.map(
    (bytes) => fromBinary(FileDescriptorProtoSchema, bytes).name,
  );
}

describe("reflectionRoutes (v1)", () => {
  it("lists the served services and both reflection services", async () => {
    const [response] = await session([
      { host: "h", messageRequest: { case: "listServices", value: "*" } },
    ]);
    expect(response?.messageResponse.case).toBe("listServicesResponse");
    const names =
      response?.messageResponse.case === "listServicesResponse"
        ? response.messageResponse.value.service.map((s) => s.name)
        : [];
    expect(names.sort()).toEqual([
      "bazaar.account.v1.AccountService",
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });

  it("answers a service symbol with its file and transitive imports, decodable", async () => {
    const [response] = await session([
      {
        host: "example:443",
        messageRequest: { case: "fileContainingSymbol", value: "bazaar.account.v1.AccountService" },
      },
    ]);
    expect(response?.validHost).toBe("example:443");
    expect(response?.originalRequest?.messageRequest).toEqual({
      case: "fileContainingSymbol",
      value: "bazaar.account.v1.AccountService",
    });
    expect(fileNames(response)).toEqual([
      "bazaar/account/v1/account.proto",
      "google/protobuf/timestamp.proto",
    ]);
    if (response?.messageResponse.case !== "fileDescriptorResponse") return;
    const [account] = response.messageResponse.value.fileDescriptorProto;
    const proto = fromBinary(FileDescriptorProtoSchema, account ?? new Uint8Array());
    expect(proto.package).toBe("bazaar.account.v1");
    expect(proto.dependency).toEqual(["google/protobuf/timestamp.proto"]);
    expect(proto.service[0]?.method.map((m) => m.name)).toContain("GetAccount");
  });

  it("resolves methods, messages, fields, enums and enum values", async () => {
    const symbols = [
      "bazaar.account.v1.AccountService.GetAccount",
      "bazaar.account.v1.Account",
      "bazaar.account.v1.Account.create_time",
      "bazaar.account.v1.Role",
      "bazaar.account.v1.ROLE_ADMIN",
      "grpc.health.v1.HealthCheckResponse.ServingStatus",
    ];
    const responses = await session(
      symbols.map((value) => ({ messageRequest: { case: "fileContainingSymbol", value } })),
    );
    expect(responses.map((r) => fileNames(r)[0])).toEqual([
      "bazaar/account/v1/account.proto",
      "bazaar/account/v1/account.proto",
      "bazaar/account/v1/account.proto",
      "bazaar/account/v1/account.proto",
      "bazaar/account/v1/account.proto",
      "grpc/health/v1/health.proto",
    ]);
  });

  it("reports an unknown symbol as NOT_FOUND and keeps the stream answering", async () => {
    const [missing, next] = await session([
      { messageRequest: { case: "fileContainingSymbol", value: "bazaar.nope.v1.Nothing" } },
      { messageRequest: { case: "fileByFilename", value: "google/protobuf/timestamp.proto" } },
    ]);
    expect(missing?.messageResponse.case).toBe("errorResponse");
    if (missing?.messageResponse.case === "errorResponse") {
      expect(missing.messageResponse.value.errorCode).toBe(5);
      expect(missing.messageResponse.value.errorMessage).toContain("bazaar.nope.v1.Nothing");
    }
    expect(fileNames(next)).toEqual(["google/protobuf/timestamp.proto"]);
  });

  it("serves files by name, dependencies included, and rejects unknown names", async () => {
    const [found, missing] = await session([
      { messageRequest: { case: "fileByFilename", value: "bazaar/account/v1/account.proto" } },
      { messageRequest: { case: "fileByFilename", value: "nope.proto" } },
    ]);
    expect(fileNames(found)).toEqual([
      "bazaar/account/v1/account.proto",
      "google/protobuf/timestamp.proto",
    ]);
    expect(missing?.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
  });

  it("answers extension queries from the registry", async () => {
    const [numbers, unknownType, unknownExtension] = await session([
      { messageRequest: { case: "allExtensionNumbersOfType", value: "bazaar.account.v1.Account" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "bazaar.nope.v1.Nothing" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "bazaar.account.v1.Account", extensionNumber: 1000 },
        },
      },
    ]);
    expect(numbers?.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "bazaar.account.v1.Account", extensionNumber: [] },
    });
    expect(unknownType?.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
    expect(unknownExtension?.messageResponse).toMatchObject({
      case: "errorResponse",
      value: { errorCode: 5 },
    });
  });
});

describe("reflectionRoutes (v1alpha)", () => {
  it("answers list_services and file_containing_symbol with v1alpha messages", async () => {
    const client = createClient(v1alpha.ServerReflection, createRouterTransport(routes));
    async function* send() {
      yield create(v1alpha.ServerReflectionRequestSchema, {
        messageRequest: { case: "listServices", value: "" },
      });
      yield create(v1alpha.ServerReflectionRequestSchema, {
        messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.Health.Watch" },
      });
    }
    const responses: v1alpha.ServerReflectionResponse[] = [];
    for await (const response of client.serverReflectionInfo(send())) responses.push(response);

    const [list, file] = responses;
    expect(list?.$typeName).toBe("grpc.reflection.v1alpha.ServerReflectionResponse");
    expect(list?.originalRequest?.$typeName).toBe(
      "grpc.reflection.v1alpha.ServerReflectionRequest",
    );
    expect(list?.messageResponse.case).toBe("listServicesResponse");
    if (list?.messageResponse.case === "listServicesResponse") {
      expect(list.messageResponse.value.service.map((s) => s.name)).toContain(
        "bazaar.account.v1.AccountService",
      );
    }
    expect(file?.messageResponse.case).toBe("fileDescriptorResponse");
    if (file?.messageResponse.case === "fileDescriptorResponse") {
      const [health] = file.messageResponse.value.fileDescriptorProto;
      expect(fromBinary(FileDescriptorProtoSchema, health ?? new Uint8Array()).name).toBe(
        "grpc/health/v1/health.proto",
      );
    }
  });
});

describe("reflection with the buf CLI", () => {
  const run = promisify(execFile);
  const buf = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;
  let server: http2.Http2Server;
  let baseUrl: string;
  // Which services buf actually called, to prove it used the reflection version asked for.
  const called = new Set<string>();

  function accountRoutes(router: ConnectRouter) {
    router.service(AccountService, {
      getAccount: ({ id }) => ({
        account: {
          id,
          name: "Ada",
          email: "ada@example.com",
          role: Role.ADMIN,
          createTime: timestampFromDate(new Date("2024-01-02T03:04:05Z")),
        },
      }),
    });
  }

  beforeAll(async () => {
    server = http2.createServer(
      connectNodeAdapter({
        interceptors: [
          (next) => (request) => {
            called.add(request.service.typeName);
            return next(request);
          },
        ],
        routes: (router) => {
          routes(router);
          accountRoutes(router);
        },
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function bufCurl(...args: string[]): Promise<string> {
    called.clear();
    const { stdout } = await run(
      buf,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
      { timeout: 30_000 },
    );
    return stdout;
  }

  it("lists the AccountService methods over reflection", async () => {
    const methods = (await bufCurl("--list-methods", baseUrl)).trim().split("\n");
    expect(methods).toEqual(
      expect.arrayContaining([
        "bazaar.account.v1.AccountService/CreateAccount",
        "bazaar.account.v1.AccountService/GetAccount",
        "bazaar.account.v1.AccountService/Login",
        "grpc.health.v1.Health/Watch",
      ]),
    );
  });

  const expected = {
    account: {
      id: "x",
      name: "Ada",
      email: "ada@example.com",
      role: "ROLE_ADMIN",
      createTime: "2024-01-02T03:04:05Z",
    },
  };

  it("calls GetAccount with a schema from v1 reflection", async () => {
    const out = await bufCurl(
      "--reflect-protocol",
      "grpc-v1",
      "-d",
      '{"id":"x"}',
      `${baseUrl}/bazaar.account.v1.AccountService/GetAccount`,
    );
    expect(JSON.parse(out)).toEqual(expected);
    expect([...called].sort()).toEqual([
      "bazaar.account.v1.AccountService",
      "grpc.reflection.v1.ServerReflection",
    ]);
  });

  it("calls GetAccount with a schema from v1alpha reflection", async () => {
    const out = await bufCurl(
      "--reflect-protocol",
      "grpc-v1alpha",
      "-d",
      '{"id":"x"}',
      `${baseUrl}/bazaar.account.v1.AccountService/GetAccount`,
    );
    expect(JSON.parse(out)).toEqual(expected);
    expect([...called].sort()).toEqual([
      "bazaar.account.v1.AccountService",
      "grpc.reflection.v1alpha.ServerReflection",
    ]);
  });
});
