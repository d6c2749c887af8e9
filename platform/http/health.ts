// grpc.health.v1.Health: serving status for load balancers, orchestrators and grpc-health-probe.
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

// The empty name stands for the server as a whole, per the health protocol.
const OVERALL = "";

export class HealthState {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Set<() => void>();
  #shutDown = false;

  // Like grpc-go, a server that is up answers SERVING for itself until told otherwise.
  constructor() {
    this.#statuses.set(OVERALL, ServingStatus.SERVING);
  }

  set(service: string, status: ServingStatus): void {
    // After shutdown a late "SERVING" from some component must not pull traffic back in.
    if (this.#shutDown || this.#statuses.get(service) === status) return;
    this.#statuses.set(service, status);
    this.#notify();
  }

  get(service: string): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  shutdown(): void {
    this.#shutDown = true;
    for (const service of this.#statuses.keys()) {
      this.#statuses.set(service, ServingStatus.NOT_SERVING);
    }
    this.#notify();
  }

  /** Open Watch streams; for metrics, and to prove streams clean up after themselves. */
  get watcherCount(): number {
    return this.#watchers.size;
  }

  /**
   * The current status of `service` now and after every change, until `signal` aborts or the
   * state shuts down. Rapid changes may coalesce: a slow reader sees the latest status, never a
   * backlog, which is all a health client acts on.
   */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let wake = () => {};
    const notify = () => wake();
    this.#watchers.add(notify);
    signal.addEventListener("abort", notify);
    try {
      let sent: ServingStatus | undefined;
      for (;;) {
        const current = this.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (current !== sent) {
          sent = current;
          yield current;
          // Re-read: the status may have changed while the consumer held us at the yield.
          continue;
        }
        if (this.#shutDown || signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      this.#watchers.delete(notify);
      signal.removeEventListener("abort", notify);
    }
  }

  #notify(): void {
    for (const notify of this.#watchers) notify();
  }
}

export function healthRoutes(state: HealthState): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Health, {
      check({ service }) {
        const status = state.get(service);
        if (status === undefined) {
          throw new ConnectError(`unknown service "${service}"`, Code.NotFound);
        }
        return { status };
      },
      async *watch({ service }, { signal }) {
        for await (const status of state.watch(service, signal)) yield { status };
      },
    });
  };
}
