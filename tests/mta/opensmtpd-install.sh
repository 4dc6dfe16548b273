#!/bin/sh
# Does what Debian's opensmtpd postinst does on a fresh install (debconf:
# mailname MYHOSTNAME, no root address), for an OpenSMTPD whose .deb was
# unpacked with dpkg -x and put at its real paths. Run it only inside the
# private mount namespace of tests/mta/common.sh, whose /etc, /usr and /var are
# overlays: it adds users and groups and writes /etc/aliases and /etc/mailname.
# The configuration is the package's own /etc/smtpd.conf (mail from local to any
# domain relayed by MX), with one departure: "listen on localhost" becomes
# "listen on 127.0.0.1". In the tests' namespace smtpd resolves localhost to
# 127.0.0.1 twice and fails to start ("listen: Address already in use"), with
# or without the library.
#
# usage: opensmtpd-install.sh MYHOSTNAME
set -e
MYHOSTNAME=$1
[ -n "$MYHOSTNAME" ] || { echo "usage: opensmtpd-install.sh MYHOSTNAME" >&2; exit 2; }
umask 022

echo "$MYHOSTNAME" >/etc/mailname
# postinst: /etc/aliases when there is none (root forwarded nowhere).
if [ ! -f /etc/aliases ]; then
	printf '# Enter mail aliases below in the format described by aliases(5)\n# root:\n\n' >/etc/aliases
	printf 'abuse:\t\troot\nnoc:\t\troot\nsecurity:\troot\npostmaster:\troot\nhostmaster:\troot\nwebmaster:\troot\nwww:\t\twebmaster\nftp:\t\troot\n' >>/etc/aliases
fi
# postinst: addgroup/adduser --system (the privilege-separated processes run
# as opensmtpd, the queue as opensmtpq).
for name in opensmtpd opensmtpq; do
	getent group $name >/dev/null || groupadd --system $name
	getent passwd $name >/dev/null ||
		useradd --system --gid $name --home-dir /var/lib/opensmtpd/empty --no-create-home \
			--shell /usr/sbin/nologin $name
done
sed -i 's/^listen on localhost$/listen on 127.0.0.1/' /etc/smtpd.conf
# postinst: dpkg-statoverride root opensmtpq 2755 /usr/sbin/smtpctl.
chown root:opensmtpq /usr/sbin/smtpctl
chmod 2755 /usr/sbin/smtpctl
