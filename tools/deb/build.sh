#!/bin/sh
# make deb: builds onionmx_VERSION_ARCH.deb with dpkg-deb, no debian/ source
# tree needed. The build uses dpkg-buildflags (Debian's hardening flags) in a
# build directory of its own (build/deb), stages "make install" into a root
# (PREFIX=/usr, drop-ins in /lib/systemd/system), and adds what a Debian binary
# package carries: control, md5sums, conffiles, maintainer scripts, copyright,
# changelog, lintian overrides. Files are root's (dpkg-deb --root-owner-group);
# the library gets mode 4644: ld.so's secure mode wants only the set-user-ID
# bit (README, "Security"), and a shared library is not executable (lintian).
#
# usage: tools/deb/build.sh [OUTDIR]     (default: the top directory)
set -e
cd "$(dirname "$0")/../.."
TOP=$(pwd)
OUTDIR=${1:-$TOP}
B=$TOP/build/deb
ROOT=$B/root
ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# The version: DEB_VERSION, else 0.1 and the last commit's date and hash.
if [ -z "$DEB_VERSION" ]; then
	DEB_VERSION=0.1+git$(git log -1 --format=%cd.%h --date=format:%Y%m%d 2>/dev/null || echo 0)
fi
MAINTAINER=${DEB_MAINTAINER:-onionmx maintainers <onionmx@example.org>}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

CFLAGS=$(dpkg-buildflags --get CFLAGS)
CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
rm -rf "$ROOT"
mkdir -p "$ROOT"
make -s O="$B/obj" CFLAGS="$CFLAGS" CPPFLAGS="$CPPFLAGS" LDFLAGS="$LDFLAGS" MULTIARCH="$MULTIARCH" all
make -s O="$B/obj" CFLAGS="$CFLAGS" CPPFLAGS="$CPPFLAGS" LDFLAGS="$LDFLAGS" MULTIARCH="$MULTIARCH" \
	DESTDIR="$ROOT" PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var UNITDIR=/lib/systemd/system \
	install >/dev/null
# The compiled map is the operator's (rebuilt by onionmx-map): postinst makes it.
rm -f "$ROOT/etc/onionmx/domains.cdb"
chmod 644 "$ROOT/etc/onionmx/onionmx.conf" "$ROOT/etc/onionmx/domains"
# Debian keeps debugging symbols apart: strip as dh_strip does.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$ROOT/usr/lib/$MULTIARCH/libonionmx.so"
chmod 4644 "$ROOT/usr/lib/$MULTIARCH/libonionmx.so"
strip --remove-section=.comment --remove-section=.note \
	"$ROOT/usr/bin/onionmx" "$ROOT/usr/sbin/onionmx-map" "$ROOT/usr/sbin/onionmx-check" \
	"$ROOT/usr/sbin/onionmx-stats"
gzip -9n "$ROOT"/usr/share/man/man*/*

DOC=$ROOT/usr/share/doc/onionmx
install -d "$DOC/examples" "$ROOT/usr/share/lintian/overrides"
install -m 644 tools/deb/copyright "$DOC/copyright"
install -m 644 onionmx.conf.example "$DOC/examples/onionmx.conf"
install -m 644 tools/domains.example "$DOC/examples/domains"
gzip -9nc README >"$DOC/README.gz"
chmod 644 "$DOC/README.gz"
{
	printf 'onionmx (%s) unstable; urgency=medium\n\n' "$DEB_VERSION"
	printf '  * Built from the onionmx source tree with make deb.\n\n'
	printf ' -- %s  %s\n' "$MAINTAINER" "$(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$DOC/changelog.gz"
chmod 644 "$DOC/changelog.gz"
sed "s/@MULTIARCH@/$MULTIARCH/" tools/deb/lintian-overrides >"$ROOT/usr/share/lintian/overrides/onionmx"
chmod 644 "$ROOT/usr/share/lintian/overrides/onionmx"

# Control: Depends as dpkg-shlibdeps computes them from the binaries.
mkdir -p "$ROOT/DEBIAN" "$B/shlibs/debian"
printf 'Source: onionmx\n\nPackage: onionmx\nArchitecture: any\n' >"$B/shlibs/debian/control"
DEPENDS=$(cd "$B/shlibs" && dpkg-shlibdeps -O -e"$ROOT/usr/lib/$MULTIARCH/libonionmx.so" \
	-e"$ROOT/usr/bin/onionmx" -e"$ROOT/usr/sbin/onionmx-map" -e"$ROOT/usr/sbin/onionmx-check" \
	-e"$ROOT/usr/sbin/onionmx-stats" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@DEPENDS@/$DEPENDS/" \
	-e "s/@SIZE@/$SIZE/" -e "s/@MAINTAINER@/$MAINTAINER/" -e "s/@MULTIARCH@/$MULTIARCH/" \
	tools/deb/control.in >"$ROOT/DEBIAN/control"
for s in postinst postrm; do
	sed -e "s/@MULTIARCH@/$MULTIARCH/" "tools/deb/$s" >"$ROOT/DEBIAN/$s"
	chmod 755 "$ROOT/DEBIAN/$s"
done
(cd "$ROOT" && find etc -type f | sed 's|^|/|' | sort) >"$ROOT/DEBIAN/conffiles"
# A library in ld.so's directories: ldconfig runs after install and removal.
echo "activate-noawait ldconfig" >"$ROOT/DEBIAN/triggers"
chmod 644 "$ROOT/DEBIAN/triggers"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -print |
	sed 's|^\./||' | sort | xargs md5sum) >"$ROOT/DEBIAN/md5sums"
chmod 644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/conffiles" "$ROOT/DEBIAN/md5sums"
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
DEB=$OUTDIR/onionmx_${DEB_VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
