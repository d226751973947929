#!/usr/bin/python3
# Misbehaving HTTP/TLS servers: what keepalived 2.2.7 logs for each (rkeepalived HTTPK).
import socket, threading, time, ssl
O = "/tmp/httpk/o3/"
def log(port, what):
    with open(O + "req.log", "a") as o:
        o.write("%.3f %d %s\n" % (time.time(), port, what))
def partial_header(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\nContent-Len"); c.close()
def short_body(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nhello"); c.close()
def no_close(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n"); time.sleep(30); c.close()
def bad_status(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 abc OK\r\nContent-Length: 6\r\n\r\nhello\n"); c.close()
def slowloris(c):
    c.recv(4096)
    for b in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 40:
        try:
            c.sendall(bytes([b])); time.sleep(0.5)
        except OSError:
            break
    c.close()
def silent(c):
    time.sleep(30); c.close()
def close_now(c):
    c.close()
def no_length(c):
    c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello\n"); c.close()
def tcp(port, h):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    def loop():
        while True:
            c, _ = s.accept()
            log(port, "accept")
            threading.Thread(target=h, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
tcp(8701, partial_header)
tcp(8702, short_body)
tcp(8703, no_close)
tcp(8704, bad_status)
tcp(8705, slowloris)
tcp(8706, silent)
tcp(8707, close_now)
tcp(8708, no_length)
tcp(8709, no_close)
open(O + "servers.ready", "w").write("ok")
time.sleep(100000)
