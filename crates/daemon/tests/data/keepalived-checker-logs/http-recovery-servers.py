#!/usr/bin/python3
# Test servers for HTTP_GET/SSL_GET recovery observation (rkeepalived HTTPK).
import socket, threading, time, os, ssl
O = "/tmp/httpk/o/"
def pop(port):
    f = O + "seq.%d" % port
    try:
        s = open(f).read().strip()
    except FileNotFoundError:
        return "G"
    if not s:
        return "G"
    open(f, "w").write(s[1:])
    return s[0]
def reply(c, status, body):
    c.sendall(("HTTP/1.0 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)).encode())
def handler(port):
    def h(c):
        try:
            req = c.recv(4096).decode(errors="replace")
            path = req.split(" ")[1] if " " in req else "?"
            ch = pop(port)
            with open(O + "req.log", "a") as o:
                o.write("%.3f %d %s %s\n" % (time.time(), port, path, ch))
            bad = ch == "B" or (port == int(os.environ.get("TWO", "8604")) and path == "/b" and os.path.exists(O + "bad.%d" % port))
            if bad:
                reply(c, "500 Internal", "err\n")
            else:
                reply(c, "200 OK", "hello\n")
        except Exception as e:
            with open(O + "req.log", "a") as o:
                o.write("%.3f %d error %s\n" % (time.time(), port, e))
        finally:
            c.close()
    return h
def tcp(port, h, tls=False):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain("/tmp/httpk/cert.pem", "/tmp/httpk/key.pem")
    def loop():
        while True:
            c, _ = s.accept()
            if ctx:
                try:
                    c = ctx.wrap_socket(c, server_side=True)
                except Exception as e:
                    with open(O + "req.log", "a") as o:
                        o.write("%.3f %d tls-error %s\n" % (time.time(), port, e))
                    c.close(); continue
            threading.Thread(target=h, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
TLS = [int(x) for x in os.environ.get("TLS", "8603").split(",")]
for p in range(8601, 8611):
    tcp(p, handler(p), tls=(p in TLS))
open(O + "servers.ready", "w").write("ok")
time.sleep(100000)
