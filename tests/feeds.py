"""A feed server on 127.0.0.1 for the tests of event sources: routes map a path to a body, a status, a redirect
or a slow trickle."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FeedServer:
    def __init__(self):
        self.routes: dict[str, tuple] = {}
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.hits.append(self.path)
                route = server.routes.get(self.path, ("status", 404))
                kind = route[0]
                if kind == "status":
                    self.send_response(route[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "redirect":
                    self.send_response(302)
                    self.send_header("Location", route[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif kind == "body":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml; charset=utf-8")
                    if len(route) < 3 or route[2]:
                        self.send_header("Content-Length", str(len(route[1])))
                    self.end_headers()
                    self.wfile.write(route[1])
                elif kind == "slow":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/xml")
                    self.end_headers()
                    try:
                        for _ in range(40):
                            self.wfile.write(b"<!-- a -->")
                            self.wfile.flush()
                            time.sleep(0.25)
                    except OSError:
                        pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
