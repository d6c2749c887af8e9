// Which sockets, HTTP/2 sessions and requests are open, so a shutdown lets in-flight calls finish
// and then closes the rest.
import { EventEmitter } from "node:events";
import type http from "node:http";
import type http2 from "node:http2";
import type { Socket } from "node:net";

type ServerRequest = http.IncomingMessage | http2.Http2ServerRequest;
type ServerResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Tracks sockets, HTTP/2 sessions and requests, so shutdown can let in-flight calls finish. */
export class ConnectionTracker extends EventEmitter {
  #sockets = new Set<Socket>();
  #sessions = new Set<http2.ServerHttp2Session>();
  #busy = new Map<Socket, number>();
  #http2Sockets = new WeakSet<Socket>();
  #draining = false;
  /** Leaving the balancer's rotation: still serving, but telling clients to connect anew. */
  #leaving = false;

  /** HTTP/2 sockets drain through their session's close(), never by ending the socket. */
  markHttp2(socket: Socket) {
    this.#http2Sockets.add(socket);
  }

  socketOpened(socket: Socket) {
    this.#sockets.add(socket);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      this.#busy.delete(socket);
      if (this.#sockets.size === 0) this.emit("empty");
    });
  }

  sessionOpened(session: http2.ServerHttp2Session) {
    this.#sessions.add(session);
    session.once("close", () => this.#sessions.delete(session));
    if (this.#draining) session.close();
  }

  requestStarted(req: ServerRequest, res: ServerResponse) {
    if (req.httpVersionMajor >= 2) return; // HTTP/2 sessions drain themselves on close()
    const socket = req.socket as Socket;
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
    if (this.#draining || this.#leaving) {
      (res as http.ServerResponse).setHeader("connection", "close");
    }
    res.once("close", () => {
      const left = (this.#busy.get(socket) ?? 1) - 1;
      this.#busy.set(socket, left);
      if (this.#draining && left === 0) socket.end();
    });
  }

  /**
   * The process is leaving its balancer's rotation and still serves: each HTTP/1.1 answer from
   * now on closes its connection, and HTTP/2 sessions are asked to go (GOAWAY, their open
   * streams finish), so clients' next calls open new connections, which the balancer sends to
   * other replicas once it saw this one unready.
   */
  leave(): void {
    this.#leaving = true;
    for (const session of this.#sessions) session.close();
  }

  async drain(graceMs: number, onGraceOver: () => void): Promise<void> {
    this.#draining = true;
    for (const session of this.#sessions) session.close();
    for (const socket of this.#sockets) {
      // Destroyed, not ended: a request arriving on an idle socket after its FIN could still be
      // read and run; destroyed, it is refused unread (the client sees a reset and may resend).
      if (!this.#http2Sockets.has(socket) && (this.#busy.get(socket) ?? 0) === 0) socket.destroy();
    }
    if (this.#sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.once("empty", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    onGraceOver();
    for (const socket of this.#sockets) socket.destroy();
  }
}
