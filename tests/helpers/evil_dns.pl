#!/usr/bin/perl
# evil_dns.pl -l ADDR[:PORT] [-L LOGFILE] [-p PIDFILE] [-o ONION]: a DNS server
# (UDP and TCP, default port 53) whose replies are crafted byte by byte, for the
# robustness tests of the SRV reply parser. Every reply echoes the query's ID,
# RD bit and question; the answer is chosen by the first label after
# "_onion-mx._tcp." (case-insensitive), whatever the query type:
#   good       one SRV "0 5 25 ONION.onion."
#   truncated  the good reply cut in the middle of the SRV target (no TC bit)
#   tcbit      UDP: TC set, no answer; TCP: the good reply
#   loop       the SRV target is a compression pointer to itself
#   loop2      two SRV records: the first's target points at the second's
#              owner, which points back at that target
#   forward    the SRV target points forward, at the owner of an additional
#              A record named ONION.onion.
#   pastend    the SRV target points past the end of the packet
#   counts     ANCOUNT 65535, one (good) record
#   hugerdata  an SRV of RDLENGTH 60000: the good target, then zero bytes
#   longrdata  the good SRV with RDLENGTH 1000, longer than the rest of the packet
#   badlabel   the SRV target has a label length byte 0x40 (extended label type)
#   badlabel80 the same with 0x80 (reserved)
#   servfail, formerr, refused   RCODE 2, 1, 5; no record
#   timeout    no reply at all
#   wrongname  a good SRV owned by _onion-mx._tcp.other.evil.test.
#   mixed      five SRV records, in this order: "0 5 25 mx.clearnet.test.",
#              "1 5 25 expyuzz4wqqyqhjn.onion." (v2 length), "2 5 25 B.onion."
#              (ONION with a bad checksum), "3 5 25 ." and "10 5 25 ONION.onion."
#   anything else   NXDOMAIN, with the SOA of the name after that label
# Names without the prefix get ordinary answers: A 127.0.0.30 (for any name),
# MX "10 mx.NAME.", NODATA with an SOA for other types, and NXDOMAIN if their
# first label is "nxdomain". A query that cannot be parsed gets no reply.
# ONION: -o, else $EVIL_DNS_ONION, else a fixed valid v3 label (onion_gen).
# The log has one line per query, "PROTO TYPE NAME" (udp/tcp, a mnemonic or
# TYPEnn, the name as asked without the trailing dot); "#" lines are remarks.
# With -p it daemonizes: the pid file appears once both sockets listen.
use strict;
use warnings;
use Getopt::Std;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(setsid _exit);

my %opt;
getopts('l:L:p:o:', \%opt) && $opt{l}
	or die "usage: evil_dns.pl -l ADDR[:PORT] [-L LOGFILE] [-p PIDFILE] [-o ONION]\n";
my ($addr, $port) = $opt{l} =~ /^([^:]+)(?::(\d+))?$/ or die "evil_dns.pl: bad -l $opt{l}\n";
$port //= 53;
my $onion = lc($opt{o} // $ENV{EVIL_DNS_ONION} // 'cpe7ev2gsbsitqrvlz6lcjl4ctlxnkwk7sxkzdg4fmis3uktiznhcead');
$onion =~ s/\.onion\.?$//;
$onion =~ /^[a-z2-7]{56}$/ or die "evil_dns.pl: -o wants a 56-character v3 onion label\n";
# Character 52 encodes checksum bits only: changing it breaks just the checksum.
my $badsum = $onion;
substr($badsum, 52, 1) = substr($badsum, 52, 1) eq 'a' ? 'b' : 'a';

my %TYPES = (1 => 'A', 2 => 'NS', 5 => 'CNAME', 6 => 'SOA', 12 => 'PTR', 15 => 'MX', 16 => 'TXT',
	28 => 'AAAA', 33 => 'SRV', 41 => 'OPT', 43 => 'DS', 46 => 'RRSIG', 48 => 'DNSKEY', 255 => 'ANY');
use constant { T_A => 1, T_SOA => 6, T_MX => 15, T_SRV => 33, C_IN => 1 };

my $udp = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port, Proto => 'udp', ReuseAddr => 1)
	or die "evil_dns.pl: cannot listen on udp $addr:$port: $@\n";
my $tcp = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port, Proto => 'tcp', ReuseAddr => 1,
	Listen => 16) or die "evil_dns.pl: cannot listen on tcp $addr:$port: $@\n";
my $log;
if ($opt{L}) {
	open($log, '>>', $opt{L}) or die "evil_dns.pl: $opt{L}: $!\n";
	$log->autoflush(1);
}
sub logline { print $log @_, "\n" if $log }

my $pid_path;
if ($opt{p}) {
	pipe(my $r, my $w) or die "evil_dns.pl: pipe: $!\n";
	my $pid = fork() // die "evil_dns.pl: fork: $!\n";
	if ($pid) {
		close $w;
		_exit(sysread($r, my $byte, 1) == 1 ? 0 : 1);
	}
	close $r;
	setsid();
	my $tmp = "$opt{p}.tmp.$$";
	my $fh;
	open($fh, '>', $tmp) && print($fh "$$\n") && close($fh) && rename($tmp, $opt{p})
		or die "evil_dns.pl: $opt{p}: $!\n";
	$pid_path = $opt{p};
	open(STDIN, '<', '/dev/null');
	open(STDOUT, '>', '/dev/null');
	open(STDERR, '>', '/dev/null');
	syswrite($w, '1');
	close $w;
}
$SIG{PIPE} = 'IGNORE';
$SIG{TERM} = $SIG{INT} = sub { unlink $pid_path if $pid_path; _exit(0) };

sub name_wire { # "a.b." -> labels; "." or "" -> the root
	my $wire = '';
	for my $l (split /\./, $_[0]) {
		$wire .= chr(length $l) . $l if length $l;
	}
	return $wire . "\0";
}
sub ptr { pack('n', 0xC000 | $_[0]) }
sub rr { # rr OWNER-WIRE TYPE RDATA [RDLENGTH]
	my ($owner, $type, $rdata, $rdlen) = @_;
	return $owner . pack('nnNn', $type, C_IN, 300, $rdlen // length $rdata) . $rdata;
}
sub srv { pack('nnn', @_[0 .. 2]) . name_wire($_[3]) }
sub soa {
	my $zone = $_[0] eq '' ? '.' : "$_[0].";
	return rr(name_wire($zone), T_SOA,
		name_wire("ns.$zone") . name_wire("hostmaster.$zone") . pack('NNNNN', 1, 3600, 600, 86400, 300));
}

sub parse_query {
	my ($q) = @_;
	return if length($q) < 12;
	my ($id, $flags, $qd) = unpack('nnn', $q);
	return if $qd < 1 || ($flags & 0x8000);
	my ($off, @labels) = (12);
	while (1) {
		return if $off >= length $q;
		my $len = ord substr($q, $off++, 1);
		last if $len == 0;
		return if $len > 63 || $off + $len > length $q;
		push @labels, substr($q, $off, $len);
		$off += $len;
	}
	return if $off + 4 > length $q;
	my ($qtype) = unpack('n', substr($q, $off, 2));
	$off += 4;
	return { id => $id, flags => $flags, labels => \@labels, qtype => $qtype,
		question => substr($q, 12, $off - 12) };
}

# reply Q PROTO: the reply's bytes, or undef for none.
sub reply {
	my ($q, $proto) = @_;
	my @l = map { lc } @{ $q->{labels} };
	my $flags = 0x8400 | ($q->{flags} & 0x7900) | 0x0080; # QR AA, opcode RD echoed, RA
	my $hdr = sub { # hdr RCODE AN NS AR [EXTRA-FLAGS]
		pack('nnnnnn', $q->{id}, $flags | $_[0] | ($_[4] // 0), 1, @_[1 .. 3]) . $q->{question};
	};
	my $qend = 12 + length $q->{question}; # where the answer section starts
	my $good = srv(0, 5, 25, "$onion.onion.");

	if (@l < 3 || $l[0] ne '_onion-mx' || $l[1] ne '_tcp') {
		my $name = join('.', @{ $q->{labels} });
		my $parent = join('.', @{ $q->{labels} }[1 .. $#l]);
		return $hdr->(3, 0, 1, 0) . soa($parent) if @l && $l[0] eq 'nxdomain';
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_A, pack('C4', 127, 0, 0, 30)) if $q->{qtype} == T_A;
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_MX, pack('n', 10) . name_wire("mx.$name."))
			if $q->{qtype} == T_MX;
		return $hdr->(0, 0, 1, 0) . soa($parent);
	}
	my $b = $l[2] // '';
	my $zone = join('.', @{ $q->{labels} }[3 .. $#l]);
	if ($b eq 'good' || ($b eq 'tcbit' && $proto eq 'tcp')) {
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, $good);
	} elsif ($b eq 'tcbit') {
		return $hdr->(0, 0, 0, 0, 0x0200);
	} elsif ($b eq 'truncated') {
		my $full = $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, $good);
		return substr($full, 0, $qend + 12 + 6 + 20);
	} elsif ($b eq 'loop') {
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, pack('nnn', 0, 5, 25) . ptr($qend + 18));
	} elsif ($b eq 'loop2') {
		# Record 1 at qend (20 bytes, target at qend+18), record 2 at qend+20.
		return $hdr->(0, 2, 0, 0) . rr(ptr(12), T_SRV, pack('nnn', 0, 5, 25) . ptr($qend + 20))
			. rr(ptr($qend + 18), T_SRV, $good);
	} elsif ($b eq 'forward') {
		return $hdr->(0, 1, 0, 1) . rr(ptr(12), T_SRV, pack('nnn', 0, 5, 25) . ptr($qend + 20))
			. rr(name_wire("$onion.onion."), T_A, pack('C4', 127, 0, 0, 40));
	} elsif ($b eq 'pastend') {
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, pack('nnn', 0, 5, 25) . ptr(0x3FF0));
	} elsif ($b eq 'counts') {
		return $hdr->(0, 65535, 0, 0) . rr(ptr(12), T_SRV, $good);
	} elsif ($b eq 'hugerdata') {
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, $good . "\0" x (60000 - length $good));
	} elsif ($b eq 'longrdata') {
		return $hdr->(0, 1, 0, 0) . rr(ptr(12), T_SRV, $good, 1000);
	} elsif ($b eq 'badlabel' || $b eq 'badlabel80') {
		my $byte = $b eq 'badlabel' ? 0x40 : 0x80;
		return $hdr->(0, 1, 0, 0)
			. rr(ptr(12), T_SRV, pack('nnn', 0, 5, 25) . "\4mail" . chr($byte) . "abcdefgh\0");
	} elsif ($b eq 'servfail' || $b eq 'formerr' || $b eq 'refused') {
		return $hdr->({ formerr => 1, servfail => 2, refused => 5 }->{$b}, 0, 0, 0);
	} elsif ($b eq 'timeout') {
		return undef;
	} elsif ($b eq 'wrongname') {
		return $hdr->(0, 1, 0, 0) . rr(name_wire('_onion-mx._tcp.other.evil.test.'), T_SRV, $good);
	} elsif ($b eq 'mixed') {
		my @srv = (srv(0, 5, 25, 'mx.clearnet.test.'), srv(1, 5, 25, 'expyuzz4wqqyqhjn.onion.'),
			srv(2, 5, 25, "$badsum.onion."), srv(3, 5, 25, '.'), srv(10, 5, 25, "$onion.onion."));
		return $hdr->(0, scalar @srv, 0, 0) . join('', map { rr(ptr(12), T_SRV, $_) } @srv);
	}
	return $hdr->(3, 0, 1, 0) . soa($zone);
}

# handle PROTO BYTES: logs the query, returns the reply (or undef).
sub handle {
	my ($proto, $bytes) = @_;
	my $q = parse_query($bytes);
	unless ($q) {
		logline("# $proto unparseable query of ", length $bytes, ' bytes');
		return undef;
	}
	my $name = join('.', @{ $q->{labels} });
	$name =~ s/[^\x21-\x7e]/?/g;
	logline("$proto ", $TYPES{ $q->{qtype} } // "TYPE$q->{qtype}", ' ', length $name ? $name : '.');
	return reply($q, $proto);
}

my $sel = IO::Select->new($udp, $tcp);
my %conn; # fileno -> { sock, buf, seen }
while (1) {
	my @ready = $sel->can_read(1);
	for my $s (@ready) {
		eval {
			if ($s == $udp) {
				my $peer = $udp->recv(my $buf, 65535);
				return 1 unless defined $peer;
				my $r = handle('udp', $buf);
				send($udp, $r, 0, $peer) if defined $r;
			} elsif ($s == $tcp) {
				my $c = $tcp->accept or return 1;
				$conn{ fileno $c } = { sock => $c, buf => '', seen => time };
				$sel->add($c);
			} else {
				my $st = $conn{ fileno $s };
				my $n = sysread($s, $st->{buf}, 65536, length $st->{buf});
				if (!$n) {
					$sel->remove($s);
					delete $conn{ fileno $s };
					close $s;
					return 1;
				}
				$st->{seen} = time;
				while (length $st->{buf} >= 2) {
					my $len = unpack('n', $st->{buf});
					last if length $st->{buf} < 2 + $len;
					my $msg = substr($st->{buf}, 2, $len);
					substr($st->{buf}, 0, 2 + $len) = '';
					my $r = handle('tcp', $msg);
					next unless defined $r;
					my $out = pack('n', length $r) . $r;
					while (length $out) {
						my $w = syswrite($s, $out) or last;
						substr($out, 0, $w) = '';
					}
				}
			}
			1;
		} or logline("# error: $@");
	}
	for my $st (values %conn) { # idle TCP connections (the timeout case) end after 30 s
		next if time - $st->{seen} < 30;
		$sel->remove($st->{sock});
		delete $conn{ fileno $st->{sock} };
		close $st->{sock};
	}
}
