// HTTP/1.1 lets a request name its target in absolute form (`POST http://host/graphql`), as
// clients do through a proxy. Yoga's Node adapter would glue that onto the Host header and fail
// on the URL it makes (a 500 with a stack), so the gateway serves such a request by its path.
import type { IncomingMessage, ServerResponse } from "node:http";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function originForm(handler: Handler): Handler {
  return (req, res) => {
    const target = req.url ?? "/";
    if (!target.startsWith("/")) {
      let url: URL | undefined;
      try {
        url = new URL(target);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
        res.writeHead(400, { "content-type": "text/plain; charset=utf-8", connection: "close" });
        res.end("the request target must be a path such as /graphql\n");
        return;
      }
      req.url = `${url.pathname}${url.search}`;
    }
    handler(req, res);
  };
}
