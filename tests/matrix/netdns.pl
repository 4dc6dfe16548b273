#!/usr/bin/perl
# netdns.pl MODE NAME TYPE: one query to 127.0.0.1:53 with Net::DNS, two
# seconds allowed, no retry. MODE: default (unconnected UDP), usevc (TCP),
# persistent (persistent_udp: the socket kept for the next query, asked
# twice), connected (a Net::DNS::Packet sent on a connected UDP socket).
# Prints "answer TYPE DATA" per record and "rcode NAME", or "error TEXT".
use strict;
use warnings;
use Net::DNS;
use IO::Socket::INET;
use IO::Select;

my ($mode, $name, $type) = @ARGV;
my $reply;
if ($mode eq 'connected') {
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => 53, Proto => 'udp')
		or do { print "error socket: $!\n"; exit 0 };
	defined $sock->send(Net::DNS::Packet->new($name, $type)->data)
		or do { print "error send: $!\n"; exit 0 };
	my $buf;
	IO::Select->new($sock)->can_read(2) && defined $sock->recv($buf, 4096)
		or do { print "error no reply\n"; exit 0 };
	$reply = Net::DNS::Packet->new(\$buf);
} else {
	my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], recurse => 1, retry => 1,
		udp_timeout => 2, tcp_timeout => 2, retrans => 2,
		usevc => $mode eq 'usevc' ? 1 : 0, persistent_udp => $mode eq 'persistent' ? 1 : 0);
	if ($mode eq 'persistent') {
		# The first query opens the socket the second one reuses.
		$res->send('plain.example', 'MX') or do { print "error first query: ", $res->errorstring, "\n"; exit 0 };
	}
	$reply = $res->send($name, $type) or do { print "error ", $res->errorstring, "\n"; exit 0 };
}
print "rcode ", $reply->header->rcode, "\n";
for my $rr ($reply->answer) {
	my $data = $rr->type eq 'MX' ? $rr->preference . ' ' . $rr->exchange . '.' : $rr->rdstring;
	print "answer ", $rr->type, " $data\n";
}
