# A private Tor network on loopback, for the integration tests that go through
# real Tor. Source it after tests/lib.sh and call enter_netns first: every tor
# runs inside the test's own network namespace, knows no directory authority but
# ours (TestingTorNetwork), and dies with the test shell (__OwningControllerProcess)
# or at cleanup (its PID is in PIDS). Nothing can reach the real Tor network.
#
#   127.0.0.1:5000 OR, :7000 Dir   "auth", the directory authority (also a relay)
#   127.0.0.1:5001-5003 OR          "relay1".."relay3" (an onion service needs
#                                   at least 4 relays in all)
#   "hs"                            the onion-service tor: onion 1 serves port 25
#                                   from 127.0.0.40:25, onion 2 from 127.0.0.41:25
#                                   (the tests start those sinks)
#   127.0.0.1:9050 SOCKS            "client", with ExtendedErrors
#   127.0.0.1:9051 control          "client", no authentication
#
# tornet_start builds it in $T/tor/ and returns once the client has reached both
# onion services through Tor; it exports TOR_ONION1, TOR_ONION2 (56-character
# labels, no ".onion") and TOR_CONTROL_PORT. Call it once per script (a second
# call returns at once); tests then use tornet_socks, tornet_control,
# tornet_events and tornet_stop. Every tor logs to $T/tor/NAME/notice.log.

TORNET_AUTH_OR=5000
TORNET_AUTH_DIR=7000
TORNET_SOCKS=9050
TORNET_CONTROL=9051
TORNET_TIMEOUT=${TORNET_TIMEOUT:-120}

# Seconds since the network's start, for the progress lines.
tornet_elapsed() {
	echo $(( $(date +%s) - TORNET_T0 ))
}

tornet_say() {
	echo "# tornet $(tornet_elapsed)s: $*"
}

# Lines every tor of the network shares. NAME is its data directory.
tornet_common() { # tornet_common NAME
	cat <<EOF
TestingTorNetwork 1
DataDirectory $TORNET/$1
Nickname $1
DirAuthority auth orport=$TORNET_AUTH_OR no-v2 v3ident=$TORNET_V3IDENT 127.0.0.1:$TORNET_AUTH_DIR $TORNET_AUTH_FP
SocksPort 0
GeoIPFile ""
GeoIPv6File ""
__OwningControllerProcess $$
Log notice file $TORNET/$1/notice.log
SafeLogging 0
ShutdownWaitLength 0
LogTimeGranularity 1
EOF
}

# A relay's own lines: ORPort on loopback, publish at once, no exits.
tornet_relay_conf() { # tornet_relay_conf PORT
	cat <<EOF
Address 127.0.0.1
ORPort 127.0.0.1:$1
AssumeReachable 1
ExitRelay 0
ExitPolicy reject *:*
ContactInfo onionmx test network
EOF
}

# Starts the tor configured in $TORNET/NAME/torrc and records its PID (in PIDS,
# for cleanup, and in TORNET_PID_NAME).
tornet_launch() { # tornet_launch NAME
	tor --defaults-torrc "$TORNET/empty" -f "$TORNET/$1/torrc" --RunAsDaemon 0 \
		>"$TORNET/$1/stdout" 2>&1 &
	PIDS+=($!)
	eval "TORNET_PID_$1=$!"
}

# The relay fingerprint (RSA identity) that tor makes for DataDirectory NAME.
tornet_fingerprint() { # tornet_fingerprint NAME ORPORT
	mkdir -p "$TORNET/$1"
	chmod 700 "$TORNET/$1"
	tor --defaults-torrc "$TORNET/empty" -f "$TORNET/empty" --list-fingerprint \
		--DataDirectory "$TORNET/$1" --ORPort "127.0.0.1:$2" --Address 127.0.0.1 \
		--SocksPort 0 --Log "err stderr" 2>/dev/null |
		awk 'NF >= 2 { fp = ""; for (i = 2; i <= NF; i++) fp = fp $i } END { print fp }'
}

# How many relays the authority's published consensus lists as Running.
tornet_running() {
	if [ -r "$TORNET/auth/cached-microdesc-consensus" ]; then
		grep -c '^s .*Running' "$TORNET/auth/cached-microdesc-consensus"
	else
		echo 0
	fi
}

# One SOCKS5 exchange with the client tor, reading back exactly what Tor sends:
#   tornet_socks [-u USER:PASS] [-s | -2] [-t SECONDS] HOST PORT
# By default greeting, authentication (-u) and CONNECT go in one write; -s
# sends each after the answer to the last; -2 sends the greeting, then
# authentication and CONNECT together. Prints "method XX",
# "auth XX" (with -u), "reply XX" (the second byte of each), "raw HEX" (all of
# Tor's SOCKS bytes) and, on success, "banner: LINE" (the SMTP greeting that
# follows). A message that does not start as it should ends the exchange:
# "WHAT: expected a message starting XX, got YY", after "raw" with all Tor sent.
tornet_socks() {
	perl "$TORNET/socks.pl" "$@"
}

tornet_write_socks_pl() {
	cat >"$TORNET/socks.pl" <<'EOF'
use strict;
use warnings;
use Getopt::Std;
use IO::Socket::INET;

my %o;
(getopts('u:s2t:p:', \%o) && @ARGV == 2)
	or die "usage: socks.pl [-u USER:PASS] [-s|-2] [-t SECONDS] [-p SOCKSPORT] HOST PORT\n";
my ($host, $port) = @ARGV;
my $timeout = $o{t} // 60;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $o{p} // 9050, Proto => 'tcp')
	or do { print "socks: cannot connect: $!\n"; exit 1 };
binmode $s;
my ($buf, $raw) = ('', '');

sub fill { # one read within SECONDS; false on timeout or close
	my ($secs) = @_;
	my $rin = '';
	vec($rin, fileno($s), 1) = 1;
	return 0 unless select(my $r = $rin, undef, undef, $secs) > 0;
	return sysread($s, $buf, 4096, length $buf);
}
sub need { # the next N bytes of Tor's answer
	my ($n) = @_;
	while (length($buf) < $n) {
		next if fill($timeout);
		printf "raw %s\nsocks: %s after %d bytes\n", unpack('H*', $raw . $buf),
			'no more answer (timeout or closed)', length($raw . $buf);
		exit 1;
	}
	my $got = substr($buf, 0, $n, '');
	$raw .= $got;
	return $got;
}
sub expect { # expect WHAT N FIRST-BYTE: prints "WHAT XX" (its second byte)
	my ($what, $n, $first) = @_;
	my $got = need($n);
	if (ord($got) != $first) {
		1 while fill(1); # whatever else Tor sends, for the record
		printf "raw %s\n%s: expected a message starting %02x, got %02x\n",
			unpack('H*', $raw . $buf), $what, $first, ord($got);
		exit 1;
	}
	printf "%s %02x\n", $what, ord(substr($got, 1, 1));
	return $got;
}

my ($user, $pass) = defined $o{u} ? split(/:/, $o{u}, 2) : ();
my $greet = defined $user ? "\x05\x01\x02" : "\x05\x01\x00";
my $auth = defined $user ? pack('C C/a* C/a*', 1, $user, $pass) : '';
my $req = pack('C C C C C/a* n', 5, 1, 0, 3, $host, $port);
if ($o{s}) {       # one message at a time, each after the answer to the last
	syswrite($s, $greet);
	expect('method', 2, 5);
	if (defined $user) { syswrite($s, $auth); expect('auth', 2, 1); }
	syswrite($s, $req);
} elsif ($o{2}) {  # the greeting, then authentication and request together
	syswrite($s, $greet);
	expect('method', 2, 5);
	syswrite($s, $auth . $req);
	expect('auth', 2, 1) if defined $user;
} else {           # everything in one write
	syswrite($s, $greet . $auth . $req);
	expect('method', 2, 5);
	expect('auth', 2, 1) if defined $user;
}
my $head = expect('reply', 4, 5);
my $atyp = ord(substr($head, 3, 1));
need($atyp == 1 ? 4 + 2 : $atyp == 4 ? 16 + 2 : ord(need(1)) + 2);
printf "raw %s\n", unpack('H*', $raw);
exit 1 if ord(substr($head, 1, 1));
my $line = '';
$line .= need(1) until $line =~ /\n/;
$line =~ s/\r?\n$//;
print "banner: $line\n";
EOF
}

# Waits up to SECONDS for COMMAND to succeed, polling every 0.2 s.
tornet_wait() { # tornet_wait SECONDS COMMAND...
	local deadline=$(( $(date +%s) + $1 ))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

tornet_listening() { # tornet_listening PORT: something accepts on 127.0.0.1:PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

tornet_consensus_ready() {
	[ "$(tornet_running)" -ge 4 ]
}

# Control-port commands to the client tor (no authentication needed); prints
# the replies, CRs removed.
tornet_control() { # tornet_control COMMAND...
	local fd line c
	exec {fd}<>"/dev/tcp/127.0.0.1/$TORNET_CONTROL" || return 1
	{
		printf 'AUTHENTICATE\r\n'
		for c in "$@"; do printf '%s\r\n' "$c"; done
		printf 'QUIT\r\n'
	} >&$fd
	while IFS= read -r -t 10 line <&$fd; do
		line=${line%$'\r'}
		printf '%s\n' "$line"
		[[ $line == "250 closing connection" ]] && break
	done
	exec {fd}>&-
}

# Records the client tor's control-port EVENTS (e.g. STREAM CIRC) into FILE, as
# Tor sends them (CRLF), from now until tornet_events_stop: a background reader,
# stopped by cleanup too.
tornet_events() { # tornet_events FILE EVENT...
	local file=$1 fd
	shift
	: >"$file"
	exec {fd}<>"/dev/tcp/127.0.0.1/$TORNET_CONTROL" || return 1
	printf 'AUTHENTICATE\r\nSETEVENTS %s\r\n' "$*" >&$fd
	cat <&$fd >"$file" &
	TORNET_EVENTS_PID=$!
	PIDS+=($!)
	exec {fd}>&-
	# Both "250 OK" (AUTHENTICATE, SETEVENTS) seen: events flow from here on.
	tornet_wait 10 tornet_events_ready "$file"
}

tornet_events_ready() {
	[ "$(grep -c '^250 OK' "$1")" -ge 2 ]
}

tornet_events_stop() {
	[ -n "${TORNET_EVENTS_PID:-}" ] && stop_pid "$TORNET_EVENTS_PID"
	TORNET_EVENTS_PID=
}

# Stops one tor of the network: auth, relay1..relay3, hs or client.
tornet_stop() { # tornet_stop NAME
	local pid
	eval "pid=\${TORNET_PID_$1:-}"
	[ -n "$pid" ] && stop_pid "$pid"
}

# The last lines of every tor's log, as TAP comments, when something failed.
tornet_diagnose() {
	local f
	for f in "$TORNET"/*/notice.log; do
		echo "# --- ${f#"$TORNET"/}"
		grep -v 'You are running Tor as root\|SafeLogging\|DirAuthority or AlternateDirAuthority\|TestingTorNetwork is set' "$f" |
			tail -8 | sed 's/^/#   /'
	done
}

tornet_start() {
	if [ -n "${TORNET_READY:-}" ]; then
		return 0
	fi
	# Never a tor outside the test's private namespace: loopback must be all it has.
	if [ -z "${OMX_IN_NETNS:-}" ] || ip -o link show | grep -vq ': lo:'; then
		echo "# tornet: refusing to start tor outside a loopback-only network namespace" >&2
		return 1
	fi
	command -v tor >/dev/null && command -v tor-gencert >/dev/null || {
		echo "# tornet: tor is not installed (sh tests/deps.sh)" >&2
		return 1
	}
	TORNET=$T/tor
	TORNET_T0=$(date +%s)
	mkdir -p "$TORNET/auth/keys"
	chmod 700 "$TORNET" "$TORNET/auth"
	: >"$TORNET/empty"
	tornet_write_socks_pl

	# The authority's keys: a v3 identity and signing key, and its relay identity.
	tor-gencert --create-identity-key -m 12 -a "127.0.0.1:$TORNET_AUTH_DIR" \
		-i "$TORNET/auth/keys/authority_identity_key" \
		-s "$TORNET/auth/keys/authority_signing_key" \
		-c "$TORNET/auth/keys/authority_certificate" \
		--passphrase-fd 0 </dev/null >"$TORNET/gencert.log" 2>&1 || {
		echo "# tornet: tor-gencert failed:" >&2
		sed 's/^/#   /' "$TORNET/gencert.log" >&2
		return 1
	}
	TORNET_V3IDENT=$(awk '$1 == "fingerprint" { print $2 }' "$TORNET/auth/keys/authority_certificate")
	local fps=() i
	TORNET_AUTH_FP=$(tornet_fingerprint auth "$TORNET_AUTH_OR")
	fps+=("$TORNET_AUTH_FP")
	for i in 1 2 3; do
		fps+=("$(tornet_fingerprint "relay$i" "$((TORNET_AUTH_OR + i))")")
	done
	for i in "${fps[@]}"; do
		[[ $i =~ ^[0-9A-F]{40}$ ]] || {
			echo "# tornet: bad fingerprint '$i'" >&2
			return 1
		}
	done
	local all
	all=$(IFS=,; echo "${fps[*]}")
	tornet_say "keys made"

	# Votes every 10 s (tor's minimum), 2 s each to vote and to distribute. The
	# offset puts the first consensus 9 s from now, its vote 5 s from now: the
	# relays have about 4 s to start and publish (with the vote 2 s after the
	# launch, a relay sometimes missed it and the next consensus came 10 s
	# later). Guard and HSDir are
	# forced on every relay; Fast, Stable and Running come by themselves here.
	local offset=$(( ($(date +%s) + 9) % 10 ))
	{
		tornet_common auth
		tornet_relay_conf "$TORNET_AUTH_OR"
		cat <<EOF
DirPort 127.0.0.1:$TORNET_AUTH_DIR
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
V3AuthVotingInterval 10
V3AuthVoteDelay 2
V3AuthDistDelay 2
TestingV3AuthInitialVotingInterval 10
TestingV3AuthInitialVoteDelay 2
TestingV3AuthInitialDistDelay 2
TestingV3AuthVotingStartOffset $offset
TestingDirAuthVoteGuard $all
TestingDirAuthVoteHSDir $all
EOF
	} >"$TORNET/auth/torrc"
	tornet_launch auth
	# The relays publish to the authority as they start: let it listen first.
	if ! tornet_wait 20 tornet_listening "$TORNET_AUTH_DIR"; then
		tornet_say "the authority never listened on its DirPort"
		tornet_diagnose
		return 1
	fi
	for i in 1 2 3; do
		{
			tornet_common "relay$i"
			tornet_relay_conf "$((TORNET_AUTH_OR + i))"
			echo "DirCache 0" # everyone fetches from the authority: faster
		} >"$TORNET/relay$i/torrc"
		tornet_launch "relay$i"
	done
	tornet_say "authority and 3 relays launched, waiting for a consensus listing all 4"
	if ! tornet_wait "$TORNET_TIMEOUT" tornet_consensus_ready; then
		tornet_say "no consensus with every relay (Running: $(tornet_running))"
		tornet_diagnose
		return 1
	fi
	tornet_say "consensus lists all 4 relays as Running"

	# Only now the onion service and the client: started earlier, they stall
	# 10-60 s on a consensus that lacks relays ("Failed to find node for hop").

	mkdir -p "$TORNET/hs" "$TORNET/client"
	chmod 700 "$TORNET/hs" "$TORNET/client"
	{
		tornet_common hs
		cat <<EOF
HiddenServiceDir $TORNET/hs/onion1
HiddenServicePort 25 127.0.0.40:25
HiddenServiceDir $TORNET/hs/onion2
HiddenServicePort 25 127.0.0.41:25
EOF
	} >"$TORNET/hs/torrc"
	tornet_launch hs
	{
		tornet_common client | sed '/^SocksPort 0$/d'
		cat <<EOF
SocksPort 127.0.0.1:$TORNET_SOCKS ExtendedErrors
ControlPort 127.0.0.1:$TORNET_CONTROL
CookieAuthentication 0
EOF
	} >"$TORNET/client/torrc"
	tornet_launch client
	tornet_wait 10 test -s "$TORNET/hs/onion1/hostname" -a -s "$TORNET/hs/onion2/hostname" || {
		tornet_say "the onion service made no hostname"
		tornet_diagnose
		return 1
	}
	TOR_ONION1=$(sed 's/\.onion$//' "$TORNET/hs/onion1/hostname")
	TOR_ONION2=$(sed 's/\.onion$//' "$TORNET/hs/onion2/hostname")
	TOR_CONTROL_PORT=$TORNET_CONTROL
	export TOR_ONION1 TOR_ONION2 TOR_CONTROL_PORT
	tornet_say "onion service and client launched; waiting until the client reaches both onions"

	# Ready when a SOCKS CONNECT to each onion's port 25 through the client reads
	# the sink's banner. Early attempts get 0xF0 (descriptor not yet published) or
	# wait for the client to bootstrap: retry, and after repeated failures make
	# the client forget what it learnt about the onions (NEWNYM).
	local onion deadline=$((TORNET_T0 + TORNET_TIMEOUT)) out fails
	for onion in "$TOR_ONION1" "$TOR_ONION2"; do
		fails=0
		while :; do
			out=$(tornet_socks -t 15 "$onion.onion" 25)
			case $out in *banner:*) break ;; esac
			if [ "$(date +%s)" -ge "$deadline" ]; then
				tornet_say "gave up: $onion.onion still answers: $(echo $out)"
				tornet_diagnose
				return 1
			fi
			fails=$((fails + 1))
			if [ $((fails % 10)) = 0 ]; then
				tornet_say "still failing ($(echo $out)); NEWNYM"
				tornet_control "SIGNAL NEWNYM" >/dev/null
			fi
			sleep 0.5
		done
		tornet_say "$onion.onion answers: ${out#*banner: }"
	done
	TORNET_READY=$(tornet_elapsed)
}
