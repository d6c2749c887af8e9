// A real nats-server for tests (Debian's `nats-server`, JetStream on a free port and a temporary
// store dir) that a test can stop and start again on the same port and store; and a reader
// that collects every message of a stream.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { freePort, waitUntil } from "../testing.js";

/** Why NATS tests cannot run here, or undefined when a nats-server binary exists. */
export function natsServerMissing(): string | undefined {
  try {
    execFileSync("nats-server", ["--version"], { stdio: "ignore" });
    return undefined;
  } catch {
    return "no nats-server on PATH (apt-get install nats-server): the NATS tests are skipped";
  }
}

export class TestNatsServer {
  #child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<TestNatsServer> {
    const server = new TestNatsServer(
      await freePort(),
      await mkdtemp(join(tmpdir(), "bazaar-nats-")),
    );
    await server.resume();
    return server;
  }

  /** Starts the server again on the same port and store (after `pause`). */
  async resume(): Promise<void> {
    if (this.#child) return;
    const child = spawn(
      "nats-server",
      ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", this.storeDir],
      { stdio: "ignore" },
    );
    this.#child = child;
    child.once("exit", () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitUntil(
      `nats-server on port ${this.port} answering`,
      async () => {
        try {
          const connection = await connect({ servers: this.url, timeout: 500 });
          try {
            await (await jetstreamManager(connection)).getAccountInfo();
            return true;
          } finally {
            await connection.close();
          }
        } catch {
          return false;
        }
      },
      { timeoutMs: 15_000 },
    );
  }

  /** Kills the server (SIGKILL): everything JetStream acknowledged is on disk already. */
  async pause(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    this.#child = undefined;
  }

  async stop(): Promise<void> {
    await this.pause();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

export interface StoredEvent {
  subject: string;
  /** The Nats-Msg-Id header. */
  msgId: string;
  data: Uint8Array;
  /** When JetStream stored it. */
  time: Date;
}

/** Every message `stream` holds now, in stream order. */
export async function readStream(url: string, stream: string): Promise<StoredEvent[]> {
  const connection = await connect({ servers: url });
  try {
    const info = await (await jetstreamManager(connection)).streams.info(stream);
    const total = info.state.messages;
    const events: StoredEvent[] = [];
    if (total === 0) return events;
    const consumer = await jetstream(connection).consumers.get(stream, {
      deliver_policy: DeliverPolicy.All,
    });
    const messages = await consumer.consume();
    for await (const message of messages) {
      events.push({
        subject: message.subject,
        msgId: message.headers?.get("Nats-Msg-Id") ?? "",
        data: message.data,
        time: new Date(message.info.timestampNanos / 1_000_000),
      });
      if (message.info.pending === 0) break;
    }
    await messages.close();
    return events;
  } finally {
    await connection.close();
  }
}
