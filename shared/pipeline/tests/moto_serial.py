"""moto's server, handling one request at a time. Usage: python moto_serial.py HOST PORT

`moto_server` serves each request on its own thread, and moto's DynamoDB backend checks a transaction's
conditions and applies its writes as separate steps, so two concurrent TransactWriteItems on the same item can
both commit. Seen here: the racing-promotion test once found a promoted version missing from the history,
because both racers committed history item seq 1. Real DynamoDB serialises conflicting transactions. Serving one
request at a time gives the tests that guarantee back, while the racers still read, decide and write
concurrently from the client side.
"""
import os
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

host, port = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("MOTO_PORT", str(port))
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
