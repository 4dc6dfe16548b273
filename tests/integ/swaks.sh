#!/bin/bash
# The wrapper and swaks: mail for a mapped domain reaches the onion sink through
# the SOCKS server, with --server naming the onion and with no --server at all
# (Net::DNS then sends its own UDP MX query, answered inside the process); mail
# for an unmapped domain goes straight to its MX; the clearnet MX of the mapped
# domain and the DNS server learn nothing.
. "$(dirname "$0")/../lib.sh"
enter_netns "$@"
start_dns || exit 1
setup_map || exit 1
start_sink onion 127.0.0.40:25 || exit 1
start_sink clearnet 127.0.0.20:25 || exit 1
start_sink plain 127.0.0.30:25 || exit 1
start_socks relay -r 127.0.0.40:25 || exit 1
perl -MNet::DNS -e1 2>/dev/null
ok $? "Net::DNS is installed, so swaks does its own MX lookups"

out=$(wrapper swaks --to user@mapped.example --server "$ONION1.onion" --from a@sender.example \
	--header "Subject: to the onion by name" --timeout 10 2>&1)
like "$out" "<-  250 " "swaks --server ONION: the onion MX accepted the message"
is "$(sink_count onion)" 1 "swaks --server ONION: the message is at the onion sink"
like "$(cat "$T/socks.log")" "host=$ONION1\.onion port=25" "the SOCKS request named the onion"

out=$(wrapper swaks --to user@mapped.example --from a@sender.example \
	--header "Subject: by MX lookup" --timeout 10 2>&1)
like "$out" "=== Trying $ONION1\.onion" "swaks (Net::DNS MX lookup) chose the onion MX"
like "$out" "<-  250 " "swaks MX lookup: the onion accepted the message"
is "$(sink_count onion)" 2 "swaks MX lookup: the message is at the onion sink"
grep -l "Subject: by MX lookup" "$T"/onion/*.eml >/dev/null
ok $? "the message that arrived is the one sent by MX lookup"

out=$(wrapper swaks --to user@a.b.wild.example --from a@sender.example --timeout 10 2>&1)
like "$out" "=== Trying $ONION2\.onion" "swaks: a subdomain covered by .wild.example goes to its onion"

out=$(wrapper swaks --to user@plain.example --from a@sender.example --timeout 10 2>&1)
like "$out" "=== Trying mx\.plain\.example" "swaks: an unmapped domain uses its own MX"
is "$(sink_count plain)" 1 "the unmapped domain's mail arrived directly"

is "$(sink_connections clearnet)" 0 "the clearnet MX of mapped.example saw no connection"
queries=$(dns_queries)
unlike "$queries" "mapped\.example|wild\.example|\.onion" "the DNS server saw no query for a mapped domain or an onion"
like "$queries" "MX plain\.example" "while swaks did ask it for plain.example"

# The same swaks without the shim would have gone to the clearnet MX: proves the test.
out=$(swaks --to user@mapped.example --from a@sender.example --timeout 5 2>&1)
like "$out" "=== Trying mx\.mapped\.example" "without onionmx, swaks would use the clearnet MX (control)"
done_testing
