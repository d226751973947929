#!/usr/bin/python3
# Servers for engineer FID's keepalived 2.2.7 captures: UDP replies of the wrong length or
# content, DNS error RCODEs, SMTP servers that break the dialogue, a TCP listener for a reload.
import socket, struct, threading, time
O = "/tmp/fid/o/"
def log(port, what):
    with open(O + "req.log", "a") as o:
        o.write("%.3f %d %s\n" % (time.time(), port, what))
def udp(port, f):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    def loop():
        while True:
            d, a = s.recvfrom(4096)
            log(port, "udp %s" % d.hex())
            r = f(d)
            if r is not None: s.sendto(r, a)
    threading.Thread(target=loop, daemon=True).start()
# UDP_CHECK payload 41, require_reply 42 unless said.
udp(9101, lambda d: b"B")          # min_reply_length 4: too short
udp(9102, lambda d: b"BBBBB")      # max_reply_length 3: too long
udp(9103, lambda d: None)          # silent
udp(9104, lambda d: b"WRONG")      # mismatch, no log_all_failures
udp(9105, lambda d: b"B")          # require_reply 4243: reply shorter than the pattern
udp(9106, lambda d: b"BXYZ")       # reply longer than the pattern
udp(9107, lambda d: b"")           # empty reply
# DNS: error rcodes
def rcode(n):
    return lambda d: d[:2] + bytes([0x81, 0x80 | n]) + d[4:]
udp(5361, rcode(3))
udp(5362, rcode(5))
udp(5363, rcode(3))   # retry 1, no log_all_failures
def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
def smtp_banner_rst(c):
    c.sendall(b"220 ok\r\n"); rst(c)
def smtp_banner_close(c):
    c.sendall(b"220 ok\r\n"); c.close()
def smtp_helo_rst(c):
    c.sendall(b"220 ok\r\n"); d = c.recv(4096); log(0, "helo %r" % d); rst(c)
def smtp_quit_rst(c):
    c.sendall(b"220 ok\r\n"); d = c.recv(4096); log(0, "helo %r" % d)
    c.sendall(b"250 ok\r\n"); time.sleep(0.05); rst(c)
def smtp_banner_wait_rst(c):
    c.sendall(b"220 ok\r\n"); time.sleep(0.3); rst(c)
def plain(c):
    time.sleep(0.2); c.close()
def tcp(port, h):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    def loop():
        while True:
            c, _ = s.accept()
            log(port, "accept")
            threading.Thread(target=h, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
tcp(8801, smtp_banner_rst)
tcp(8802, smtp_banner_close)
tcp(8803, smtp_helo_rst)
tcp(8804, smtp_quit_rst)
tcp(8805, smtp_banner_wait_rst)
tcp(8810, plain)
open(O + "servers.ready", "w").close()
while True:
    time.sleep(60)
