// gRPC server reflection (v1 and v1alpha), so grpcurl, buf curl and Postman can discover our APIs.
import { create, createRegistry, type DescFile, type Registry, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

// The reflection protocol reports failures in-band with gRPC status codes, not as RPC errors.
const NOT_FOUND = 5;
const INVALID_ARGUMENT = 3;

// Both protocol versions share these shapes field for field; only the type names differ.
type ReflectionRequest = v1.ServerReflectionRequest | v1alpha.ServerReflectionRequest;
type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

interface Catalog {
  readonly services: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  readonly symbols: ReadonlyMap<string, DescFile>;
  readonly registry: Registry;
  readonly encoded: Map<DescFile, Uint8Array>;
}

export function reflectionRoutes(files: readonly DescFile[]): (router: ConnectRouter) => void {
  const catalog = buildCatalog([
    ...files,
    v1.file_grpc_reflection_v1_reflection,
    v1alpha.file_grpc_reflection_v1alpha_reflection,
  ]);
  return (router) => {
    router.service(v1.ServerReflection, {
      serverReflectionInfo: (requests) =>
        respondEach(catalog, requests, (request, answer) =>
          create(v1.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer,
          }),
        ),
    });
    router.service(v1alpha.ServerReflection, {
      serverReflectionInfo: (requests) =>
        respondEach(catalog, requests, (request, answer) =>
          create(v1alpha.ServerReflectionResponseSchema, {
            validHost: request.host,
            originalRequest: request,
            messageResponse: answer,
          }),
        ),
    });
  };
}

async function* respondEach<Req extends ReflectionRequest, Res>(
  catalog: Catalog,
  requests: AsyncIterable<Req>,
  wrap: (request: Req, answer: Answer) => Res,
): AsyncIterable<Res> {
  for await (const request of requests) {
    yield wrap(request, answer(catalog, request));
  }
}

function answer(catalog: Catalog, request: ReflectionRequest): Answer {
  const { messageRequest: m } = request;
  switch (m.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: catalog.services.map((name) => ({ name })) },
      };
    case "fileByFilename":
      return fileAnswer(catalog, catalog.files.get(m.value), `file "${m.value}"`);
    case "fileContainingSymbol":
      return fileAnswer(catalog, catalog.symbols.get(m.value), `symbol "${m.value}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = m.value;
      const extendee = catalog.registry.getMessage(containingType);
      const extension = extendee && catalog.registry.getExtensionFor(extendee, extensionNumber);
      return fileAnswer(
        catalog,
        extension?.file,
        `extension ${extensionNumber} of "${containingType}"`,
      );
    }
    case "allExtensionNumbersOfType":
      return extensionNumbers(catalog, m.value);
    default:
      return error(INVALID_ARGUMENT, "no message_request set");
  }
}

function fileAnswer(catalog: Catalog, file: DescFile | undefined, what: string): Answer {
  if (!file) return error(NOT_FOUND, `${what} not found`);
  const fileDescriptorProto = withDependencies(file).map((f) => encode(catalog, f));
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
}

function extensionNumbers(catalog: Catalog, typeName: string): Answer {
  if (!catalog.registry.getMessage(typeName))
    return error(NOT_FOUND, `type "${typeName}" not found`);
  const extensionNumber: number[] = [];
  for (const desc of catalog.registry) {
    if (desc.kind === "extension" && desc.extendee.typeName === typeName) {
      extensionNumber.push(desc.number);
    }
  }
  return {
    case: "allExtensionNumbersResponse",
    value: { baseTypeName: typeName, extensionNumber },
  };
}

function error(errorCode: number, errorMessage: string): Answer {
  return { case: "errorResponse", value: { errorCode, errorMessage } };
}

// Clients build descriptors only once every import is known, so a file travels with all of
// its transitive imports, the requested file first.
function withDependencies(root: DescFile): DescFile[] {
  const seen = new Set<DescFile>();
  const visit = (file: DescFile) => {
    if (seen.has(file)) return;
    seen.add(file);
    file.dependencies.forEach(visit);
  };
  visit(root);
  return [...seen];
}

function encode(catalog: Catalog, file: DescFile): Uint8Array {
  let bytes = catalog.encoded.get(file);
  if (!bytes) {
    bytes = toBinary(FileDescriptorProtoSchema, file.proto);
    catalog.encoded.set(file, bytes);
  }
  return bytes;
}

function buildCatalog(served: readonly DescFile[]): Catalog {
  const files = new Map<string, DescFile>();
  for (const file of served.flatMap(withDependencies)) files.set(file.proto.name, file);
  const registry = createRegistry(...files.values());
  const services = [...new Set(served.flatMap((f) => f.services.map((s) => s.typeName)))];
  return { services, files, symbols: indexSymbols(registry), registry, encoded: new Map() };
}

// The registry knows types by name; clients also ask for members (a method, a field, an enum
// value), so every fully-qualified name maps to its file up front.
function indexSymbols(registry: Registry): Map<string, DescFile> {
  const symbols = new Map<string, DescFile>();
  for (const desc of registry) {
    symbols.set(desc.typeName, desc.file);
    switch (desc.kind) {
      case "service":
        for (const m of desc.methods) symbols.set(`${desc.typeName}.${m.name}`, desc.file);
        break;
      case "message":
        for (const member of [...desc.fields, ...desc.oneofs]) {
          symbols.set(`${desc.typeName}.${member.name}`, desc.file);
        }
        break;
      case "enum": {
        // Enum values are scoped like siblings of their enum, as in C++.
        const scope = desc.typeName.slice(0, desc.typeName.lastIndexOf(".") + 1);
        for (const v of desc.values) symbols.set(`${scope}${v.name}`, desc.file);
        break;
      }
    }
  }
  return symbols;
}
