// An HTTP/1.1 connection whose request body was not read to its end is closed after the answer,
// so that its next request is refused at once instead of hanging.
//
// connect-es answers a unary gRPC or gRPC-Web call from its first envelope, or refuses the call
// at the envelope after it (a second message, a length past the message limit), and stops
// reading there: it destroys the request with the rest of the body unread. Node's HTTP/1 parser
// then has nowhere to put those bytes and stops reading the socket, so the next request on the
// connection is never parsed, and the client sees its connection reset at the keep-alive timeout
// (~6 s). Reading the rest would cost the server what sending it cost the client, for a request
// already refused; closing costs the client one new connection.
import type http from "node:http";

export function closeWhenBodyUnread(req: http.IncomingMessage, res: http.ServerResponse): void {
  const socket = req.socket;
  // An answer that starts before the body has fully arrived says `Connection: close`, so that a
  // keep-alive client never sends its next request on a socket about to be closed (it would see
  // "other side closed" instead of an answer). Node writes every status line through writeHead.
  const writeHead = res.writeHead;
  res.writeHead = function (this: http.ServerResponse, ...args: unknown[]) {
    if (!req.complete) this.shouldKeepAlive = false;
    return (writeHead as (...a: unknown[]) => http.ServerResponse).apply(this, args);
  } as typeof res.writeHead;
  req.once("close", () => {
    if (req.complete) return;
    if (!res.headersSent) {
      // The answer says `Connection: close`, and Node closes the socket once it is sent.
      res.shouldKeepAlive = false;
    } else if (res.writableFinished) {
      socket.destroy();
    } else {
      res.once("finish", () => socket.destroy());
    }
  });
}
