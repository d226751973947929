import socket, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8998)); s.listen(64)
open("/tmp/join/o/ready", "w").close()
while True:
    c, _ = s.accept(); c.close()
