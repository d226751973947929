import socket, threading, time
O = "/tmp/alpha/o"
log = open(O + "/requests.log", "a", buffering=1)
def ports(k): return [9300 + 20 * k + 10 * p + v for p in (0, 1) for v in range(4)]
def dns(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    while True:
        s.recvfrom(2048); log.write(f"{time.time():.3f} {port} dns\n")
def smtp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(16)
    while True:
        c, _ = s.accept(); log.write(f"{time.time():.3f} {port} smtp\n"); c.close()
for p in ports(1): threading.Thread(target=dns, args=(p,), daemon=True).start()
for p in ports(2): threading.Thread(target=smtp, args=(p,), daemon=True).start()
open(O + "/ready", "w").close()
threading.Event().wait()
