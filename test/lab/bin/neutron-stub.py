#!/usr/bin/python3
"""A stand-in for the Neutron API, just enough for Nova servers booted with networks "none".

Nova asks Neutron about ports, networks and security groups for every server read, evacuation, delete
and cache refresh, even when the server has no port. This answers: any list (GET /v2.0/<things>) is empty,
any single object (GET /v2.0/<things>/<id>) is 404, creating or changing anything is 400, deleting is 204.

Usage: neutron-stub.py [port]   (listens on 127.0.0.1, default port 9696)
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9696


def neutron_error(kind, message):
    return {"NeutronError": {"type": kind, "message": message, "detail": ""}}


class NeutronStub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def reply(self, status, document=None):
        body = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        segments = [s for s in urlsplit(self.path).path.split("/") if s]
        if not segments:
            version = {"id": "v2.0", "status": "CURRENT",
                       "links": [{"rel": "self", "href": f"http://127.0.0.1:{PORT}/v2.0/"}]}
            return self.reply(200, {"versions": [version]})
        if segments[0] == "v2.0":
            segments = segments[1:]
        if not segments:
            return self.reply(200, {"resources": []})
        collection = segments[-1].removesuffix(".json")
        # /ports, /networks, /security-groups, /extensions ... and /quotas/<project>/details
        if len(segments) == 1 or (segments[0] == "quotas" and len(segments) == 3):
            return self.reply(200, {collection.replace("-", "_"): []})
        return self.reply(404, neutron_error("NotFound", f"the lab's Neutron stub has no {self.path}"))

    def do_POST(self):
        self.reply(400, neutron_error("BadRequest", "the lab's Neutron stub is read-only"))

    do_PUT = do_POST

    def do_DELETE(self):
        self.reply(204)

    def log_message(self, format, *args):
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")
        sys.stderr.flush()


ThreadingHTTPServer(("127.0.0.1", PORT), NeutronStub).serve_forever()
