#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub on 127.0.0.1 for tests/cli/test_fetch_model.cpp.

usage: hub_server.py ROOT PORT_FILE [--cut FILE_NAME]

Serves ROOT (laid out as <base>/timm/NAME/resolve/main/FILE) over HTTP on an ephemeral loopback port, writes the
port to PORT_FILE once listening, and runs until killed. With --cut, every request for a file of that name gets
its full Content-Length but only half the bytes before the connection drops: an interrupted transfer.
"""
import functools
import http.server
import os
import sys

root, port_file = sys.argv[1], sys.argv[2]
cut = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == '--cut' else None


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.translate_path(self.path)
        if cut and os.path.basename(path) == cut and os.path.isfile(path):
            data = open(path, 'rb').read()
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=root))
with open(port_file + '.tmp', 'w') as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + '.tmp', port_file)
server.serve_forever()
