#!/bin/sh
# Installs the Debian packages that building, testing and the demo need, when
# any is missing. One place, so README, CI and make agree.
#
# The MTA tests run Debian's own Exim (exim4-daemon-light, installed here) and
# Debian's own Postfix and OpenSMTPD. MTAs conflict as packages, so Postfix and
# OpenSMTPD are not installed: their .debs ($DEBS) are downloaded once to
# $POSTFIX_DEB_DIR and unpacked by the tests (tests/mta/common.sh) inside a
# private mount namespace. Their run-time dependencies are installed here like
# any package.
set -e
PACKAGES="gcc make libc6-dev libcdb-dev tinycdb dnsmasq-base swaks libnet-dns-perl iproute2 util-linux valgrind tor openssl strace exim4-daemon-light"
# make deb and its test (tests/integ/deb.sh): lintian checks the package.
PACKAGES="$PACKAGES lintian dpkg-dev"
# Postfix 3.7's Depends (Debian 12), for the unpacked postfix.
PACKAGES="$PACKAGES libdb5.3 libicu72 libnsl2 libsasl2-2 libssl3 netbase adduser ssl-cert cpio e2fsprogs"
# OpenSMTPD 6.8's Depends (Debian 12), for the unpacked opensmtpd.
PACKAGES="$PACKAGES libevent-2.1-7 libpam0g libcrypt1 zlib1g"
# DNSSEC tests (start_dnssec_dns in tests/lib.sh): unbound validates, nsd serves
# zones signed with ldns-signzone, dig inspects. Both daemons run only inside
# the tests' namespaces, with their own configuration.
PACKAGES="$PACKAGES unbound nsd ldnsutils bind9-dnsutils"
# DNS clients that bypass libc's resolver (tests/integ/dns_bypass.sh): kdig
# and dnspython check a reply's source address.
PACKAGES="$PACKAGES knot-dnsutils python3-dnspython"
# The host-wide layer (tests/integ/hostwide.sh): a static Go program, Go's own resolver.
PACKAGES="$PACKAGES golang-go"
# onionmx-stats --prometheus is checked with Prometheus's own text parser (tests/integ/stats.sh).
PACKAGES="$PACKAGES python3-prometheus-client"
# The resolver matrix (tests/integ/resolver_matrix.sh): more real clients and a capture on lo.
PACKAGES="$PACKAGES nodejs ruby golang-go tcpdump curl"
DEBS="postfix opensmtpd"
POSTFIX_DEB_DIR=${POSTFIX_DEB_DIR:-/var/cache/onionmx}
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
missing_debs=""
for p in $DEBS; do
	ls "$POSTFIX_DEB_DIR/${p}"_*_amd64.deb >/dev/null 2>&1 || missing_debs="$missing_debs $p"
done
[ -z "$missing" ] && [ -z "$missing_debs" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	[ -n "$missing" ] && echo "onionmx: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	[ -n "$missing_debs" ] && echo "onionmx: no .deb of$missing_debs in $POSTFIX_DEB_DIR (run as root, or: cd $POSTFIX_DEB_DIR && apt-get download$missing_debs)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Another apt or dpkg may hold the lock for a while: wait for it.
APT="apt-get -o DPkg::Lock::Timeout=600"
$APT update -qq
if [ -n "$missing" ]; then
	echo "onionmx: installing$missing" >&2
	# No package's service may start (tor's would join the real Tor network,
	# exim4's would listen on the host): a policy-rc.d that answers 101 for
	# the install, removed afterwards unless it was there already.
	guard=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		guard=/usr/sbin/policy-rc.d
		trap 'rm -f $guard' EXIT
	fi
	$APT install -y -qq --no-install-recommends $missing >/dev/null
	# Nor may unbound or nsd start at the next boot, if this installed them.
	for p in unbound nsd; do
		case " $missing " in *" $p "*) update-rc.d "$p" disable >/dev/null 2>&1 || true ;; esac
	done
fi
for p in $missing_debs; do
	echo "onionmx: downloading the $p .deb to $POSTFIX_DEB_DIR (unpacked only by the tests)" >&2
	mkdir -p "$POSTFIX_DEB_DIR"
	tmp=$(mktemp -d "$POSTFIX_DEB_DIR/.dl.XXXXXX")
	chmod 755 "$tmp"
	(cd "$tmp" && $APT download "$p" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	deb=$(ls "$tmp/${p}"_*_amd64.deb 2>/dev/null | head -1)
	if [ -z "$deb" ]; then
		rm -rf "$tmp"
		echo "onionmx: apt-get download $p failed" >&2
		exit 1
	fi
	mv "$deb" "$POSTFIX_DEB_DIR/"
	rm -rf "$tmp"
done
