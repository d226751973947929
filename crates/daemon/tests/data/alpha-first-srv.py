import socket, ssl, threading, os
O = "/tmp/alpha/o"
def ports(k):
    return [9000 + 20 * k + 10 * p + v for p in (0, 1) for v in range(4)]
log = open(O + "/requests.log", "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/tmp/alpha/cert.pem", "/tmp/alpha/key.pem")
def http(port, tls):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(16)
    def one(c):
        try:
            if tls:
                c = ctx.wrap_socket(c, server_side=True)
            c.settimeout(3)
            data = b""
            while b"\r\n\r\n" not in data:
                d = c.recv(4096)
                if not d: break
                data += d
            log.write(f"{port} http\n")
            c.sendall(b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad")
        except Exception as e:
            log.write(f"{port} error {e}\n")
        finally:
            c.close()
    while True:
        c, _ = s.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()
def silent_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    while True:
        s.recvfrom(2048); log.write(f"{port} udp\n")
for p in ports(2): threading.Thread(target=http, args=(p, False), daemon=True).start()
for p in ports(4): threading.Thread(target=http, args=(p, True), daemon=True).start()
for p in ports(5): threading.Thread(target=silent_udp, args=(p,), daemon=True).start()
open(O + "/ready", "w").close()
threading.Event().wait()
