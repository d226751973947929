#!/usr/bin/python3
import socket, threading, time
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    def loop():
        while True:
            c, _ = s.accept(); c.close()
    threading.Thread(target=loop, daemon=True).start()
for p in (8606, 8607, 8608):
    tcp(p)
open("/tmp/rlog/o/ready", "w").close()
while True:
    time.sleep(60)
