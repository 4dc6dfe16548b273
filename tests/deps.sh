#!/bin/sh
# Installs the Debian packages that building, testing and the demo need, when
# any is missing. One place, so README, CI and make agree.
set -e
PACKAGES="gcc make libc6-dev libcdb-dev tinycdb dnsmasq-base swaks libnet-dns-perl iproute2 util-linux valgrind tor openssl"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "onionmx: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "onionmx: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No package's service may start (tor's would join the real Tor network): a
# policy-rc.d that answers 101 for the install, removed afterwards unless it was
# there already.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	guard=/usr/sbin/policy-rc.d
	trap 'rm -f $guard' EXIT
fi
apt-get install -y -qq --no-install-recommends $missing >/dev/null
