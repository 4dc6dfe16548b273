#!/usr/bin/python3
# dnspython.py udp|tcp NAME TYPE: one query to 127.0.0.1:53 with dnspython's
# own sockets (dns.query), one second allowed. Prints "answer TYPE DATA" per
# record and "rcode NAME", or "error KIND: TEXT".
import sys
import dns.message
import dns.query
import dns.rcode

proto, name, rtype = sys.argv[1:4]
q = dns.message.make_query(name, rtype)
try:
    r = getattr(dns.query, proto)(q, "127.0.0.1", timeout=1)
except Exception as e:
    print("error %s: %s" % (type(e).__name__, e))
    sys.exit(0)
print("rcode", dns.rcode.to_text(r.rcode()))
for rrset in r.answer:
    for rd in rrset:
        print("answer", dns.rdatatype.to_text(rrset.rdtype), rd.to_text())
