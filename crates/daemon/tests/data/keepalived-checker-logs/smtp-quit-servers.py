#!/usr/bin/python3
# SMTP servers ending the dialogue in odd places (engineer FID, second keepalived capture).
import socket, struct, threading, time
O = "/tmp/fid2/o/"
def log(port, what):
    with open(O + "req.log", "a") as o:
        o.write("%.3f %d %s\n" % (time.time(), port, what))
def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
def helo(c, port):
    c.sendall(b"220 ok\r\n"); d = c.recv(4096); log(port, "got %r" % d)
    c.sendall(b"250 ok\r\n")
def quit_close(c):            # 8811: no answer to QUIT, FIN
    helo(c, 8811); d = c.recv(4096); log(8811, "got %r" % d); c.close()
def quit_500(c):              # 8812: QUIT answered 500
    helo(c, 8812); d = c.recv(4096); log(8812, "got %r" % d); c.sendall(b"500 no\r\n"); time.sleep(0.2); c.close()
def quit_221(c):              # 8813: a well-behaved server
    helo(c, 8813); d = c.recv(4096); log(8813, "got %r" % d); c.sendall(b"221 bye\r\n"); time.sleep(0.2); c.close()
def split_banner_rst(c):      # 8814: banner end and RST together
    c.sendall(b"220 o"); time.sleep(0.2); c.sendall(b"k\r\n"); rst(c)
def banner_rst_1ms(c):        # 8815
    c.sendall(b"220 ok\r\n"); time.sleep(0.001); rst(c)
def quit_silent(c):           # 8816: QUIT never answered, connection kept
    helo(c, 8816); d = c.recv(4096); log(8816, "got %r" % d); time.sleep(10); c.close()
def quit_250(c):              # 8817: QUIT answered 250
    helo(c, 8817); d = c.recv(4096); log(8817, "got %r" % d); c.sendall(b"250 ok\r\n"); time.sleep(0.2); c.close()
def tcp(port, h):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    def loop():
        while True:
            c, _ = s.accept()
            log(port, "accept")
            threading.Thread(target=h, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
for p, h in [(8811, quit_close), (8812, quit_500), (8813, quit_221), (8814, split_banner_rst),
             (8815, banner_rst_1ms), (8816, quit_silent), (8817, quit_250)]:
    tcp(p, h)
open(O + "servers.ready", "w").close()
while True:
    time.sleep(60)
