#!/usr/bin/python3
# dnspython.py udp|tcp NAME TYPE: dnspython's stub resolver, as programs use
# it (dns.resolver.Resolver, its own sockets), asking 127.0.0.1 only, over UDP
# or TCP, two seconds in all. Prints "answer TYPE DATA" per record and
# "rcode NOERROR", or "error KIND: TEXT".
import sys
import dns.rdatatype
import dns.resolver

proto, name, rtype = sys.argv[1:4]
res = dns.resolver.Resolver(configure=False)
res.nameservers = ["127.0.0.1"]
res.lifetime = 2
try:
    ans = res.resolve(name, rtype, tcp=(proto == "tcp"), search=False)
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print("rcode NOERROR")
for rd in ans:
    print("answer", dns.rdatatype.to_text(ans.rdtype), rd.to_text())
