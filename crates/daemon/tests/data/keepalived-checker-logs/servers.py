#!/usr/bin/python3
# Misbehaving servers for observing keepalived's checker mails.
import socket, threading, sys, time, os, struct
def tcp(port, handler):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port)); s.listen(50)
    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
def http(status, body):
    def h(c):
        try:
            c.recv(4096)
            c.sendall(("HTTP/1.0 %s\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)).encode())
        finally:
            c.close()
    return h
def stall(c):
    time.sleep(600)
def close(c):
    c.close()
def garbage(c):
    c.recv(4096); c.sendall(b"xyzzy garbage\r\n\r\n"); c.close()
def smtp_banner(code):
    def h(c):
        c.sendall(("%s hello\r\n" % code).encode()); time.sleep(30)
    return h
def smtp_helo_bad(c):
    c.sendall(b"220 ok\r\n"); c.recv(4096); c.sendall(b"500 no\r\n"); time.sleep(30)
def smtp_good(c):
    c.sendall(b"220 ok\r\n"); c.recv(4096); c.sendall(b"250 ok\r\n"); c.recv(4096); c.sendall(b"221 bye\r\n"); c.close()
def mail_sink(c):
    f = c.makefile("rwb")
    def w(s): f.write(s.encode()+b"\r\n"); f.flush()
    w("220 sink")
    data = False; buf = []
    while True:
        l = f.readline()
        if not l: break
        t = l.decode(errors="replace").rstrip("\r\n")
        if data:
            if t == ".":
                data = False
                with open("/tmp/clog/o/mails", "a") as o:
                    o.write("----MAIL %.3f\n" % time.time()); o.write("\n".join(buf)+"\n")
                buf = []; w("250 queued")
            else: buf.append(t)
            continue
        u = t.upper()
        if u.startswith("DATA"): data = True; w("354 go")
        elif u.startswith("QUIT"): w("221 bye"); break
        else: w("250 ok")
    c.close()
tcp(8001, http("200 OK", "hello\n"))
tcp(8003, http("200 OK", "hello\n"))
tcp(8010, http("500 Internal", "err\n"))
tcp(8011, http("200 OK", "changed\n"))
tcp(8012, stall)
tcp(8013, close)
tcp(8014, garbage)
tcp(8020, smtp_banner(554))
tcp(8021, stall)
tcp(8022, smtp_helo_bad)
tcp(8023, smtp_good)
tcp(2525, mail_sink)
# UDP: 9001 wrong reply, 5354 DNS SERVFAIL, 5355 silent
def udp(port, f):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", port))
    def loop():
        while True:
            d, a = s.recvfrom(4096)
            r = f(d)
            if r is not None: s.sendto(r, a)
    threading.Thread(target=loop, daemon=True).start()
udp(9001, lambda d: b"WRONG")
udp(5354, lambda d: d[:2] + bytes([0x81, 0x82]) + d[4:])
udp(5355, lambda d: None)
udp(5356, lambda d: d[:2] + bytes([0x81, 0x80]) + d[4:6] + b"\x00\x00\x00\x00\x00\x00" + d[12:])

O="/tmp/clog/o/"
def flap(port, handler, fam=socket.AF_INET, host="127.0.0.1"):
    def run():
        s = None
        while True:
            down = os.path.exists(O + "down.%d" % port)
            if down and s: s.close(); s = None
            if not down and not s:
                s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port)); s.listen(50); s.settimeout(0.1)
            if s:
                try:
                    c, _ = s.accept(); c.settimeout(None)
                    threading.Thread(target=handler, args=(c,), daemon=True).start()
                except socket.timeout: pass
            else: time.sleep(0.1)
    threading.Thread(target=run, daemon=True).start()
def switch(port, good, bad):
    def h(c):
        (bad if os.path.exists(O + "bad.%d" % port) else good)(c)
    return h
ok = http("200 OK", "hello\n")
for p in (8401, 8402, 8404, 8405, 8406, 8408):
    flap(p, ok)
flap(8403, switch(8403, ok, http("500 Internal", "err\n")))
flap(8407, switch(8407, ok, http("200 OK", "changed\n")))
flap(8001, ok, socket.AF_INET6, "::1")
udp(9003, lambda d: d)
udp(5357, lambda d: d[:2] + bytes([0x81, 0x80]) + d[4:-4] + b"\x00\x01" + d[-2:])
udp(5358, lambda d: bytes([d[0] ^ 0xff, d[1]]) + bytes([0x81, 0x80]) + d[4:])
open("/tmp/clog/o/servers.ready","w").write("ok")
time.sleep(100000)
