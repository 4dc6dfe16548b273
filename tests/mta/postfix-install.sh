#!/bin/sh
# Does what Debian's postfix postinst does on a fresh install with the debconf
# answer "Internet Site", for a Postfix whose .deb was unpacked with dpkg -x and
# put at its real paths. Run it only inside tests/integ/postfix.sh's private
# mount namespace, whose /etc, /usr and /var are overlays: it adds users and
# groups, and writes /etc/postfix, /etc/aliases and the queue.
#
# usage: postfix-install.sh MYHOSTNAME
# The one departure from the stock answers is inet_interfaces = loopback-only:
# the test's other servers (sinks, DNS) share this namespace's lo, whose other
# addresses must not count as this host's own (Postfix bounces mail whose MX
# "loops back to myself").
set -e
MYHOSTNAME=$1
[ -n "$MYHOSTNAME" ] || { echo "usage: postfix-install.sh MYHOSTNAME" >&2; exit 2; }
umask 022

# Users and groups (postinst: addgroup/adduser --system).
getent group postfix >/dev/null || groupadd --system postfix
getent passwd postfix >/dev/null ||
	useradd --system --gid postfix --home-dir /var/spool/postfix --no-create-home \
		--shell /usr/sbin/nologin postfix
getent group postdrop >/dev/null || groupadd --system postdrop

# The queue (postinst: makedir ..., set_maildrop_perms).
cd /var/spool/postfix
mkdir -p private pid public maildrop incoming active bounce defer deferred flush saved corrupt
chown postfix:root private && chmod 700 private
chown root:root pid && chmod 755 pid
for dir in incoming active bounce defer deferred flush saved corrupt; do
	chown postfix:root $dir && chmod 700 $dir
done
chown postfix:postdrop maildrop && chmod 1730 maildrop
chown postfix:postdrop public && chmod 2710 public
# dpkg-statoverride in postinst: the setgid postdrop programs.
chown root:postdrop /usr/sbin/postdrop /usr/sbin/postqueue
chmod 2555 /usr/sbin/postdrop /usr/sbin/postqueue
mkdir -p /var/lib/postfix
chown postfix:postfix /var/lib/postfix

# Configuration (postinst: dynamicmaps.cf, master.cf, main.cf.debian [+ tls]).
cd /etc/postfix
while read -r row; do
	case $row in
	'#'*) echo "$row" ;;
	*) [ -e "/usr/lib/postfix/postfix-${row%%[[:space:]]*}.so" ] && echo "$row" ;;
	esac
done </usr/share/postfix/dynamicmaps.cf >dynamicmaps.cf || true
chmod 644 dynamicmaps.cf
cp /usr/share/postfix/master.cf.dist master.cf
cp /usr/share/postfix/main.cf.debian main.cf
[ -f /etc/ssl/private/ssl-cert-snakeoil.key ] && cat /usr/share/postfix/main.cf.tls >>main.cf
postconf -e "smtpd_relay_restrictions=permit_mynetworks permit_sasl_authenticated defer_unauth_destination"
postconf -e "myhostname=$MYHOSTNAME"
postconf -e "alias_maps=hash:/etc/aliases"
postconf -e "alias_database=hash:/etc/aliases"
postconf -e "myorigin=/etc/mailname"
# debconf's defaults for "Internet Site".
postconf -e "mydestination=\$myhostname, $MYHOSTNAME, localhost.${MYHOSTNAME#*.}, , localhost"
postconf -e "relayhost="
postconf -e "mynetworks=127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128"
postconf -e "mailbox_size_limit=0"
postconf -e "recipient_delimiter=+"
postconf -e "inet_interfaces=loopback-only"
postconf -e "inet_protocols=all"
cp /usr/share/postfix/main.cf.dist main.cf.proto
cp /usr/share/postfix/master.cf.dist master.cf.proto
[ -e makedefs.out ] || ln -s /usr/share/postfix/makedefs.out makedefs.out
printf '# See man 5 aliases for format\npostmaster:    root\n' >/etc/aliases
newaliases
