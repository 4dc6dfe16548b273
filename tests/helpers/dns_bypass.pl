#!/usr/bin/perl
# dns_bypass.pl MODE NAME TYPE: asks 127.0.0.1:53 directly, around libc's
# resolver, as swaks' Net::DNS does. MODE: udp (Net::DNS, unconnected UDP),
# tcp (Net::DNS over TCP), cudp (a connected UDP socket, written with send).
use strict;
use warnings;
use Net::DNS;
use IO::Socket::INET;
use IO::Select;

my ($mode, $name, $type) = @ARGV;

# One line per record: Net::DNS folds long ones over several.
sub print_answers {
	for my $rr ($_[0]->answer) {
		(my $text = $rr->string) =~ s/[()]//g;
		$text =~ s/\s+/ /g;
		print "answer $text\n";
	}
}
if ($mode eq 'cudp') {
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => 53, Proto => 'udp')
		or die "socket: $!";
	my $query = Net::DNS::Packet->new($name, $type);
	my $sent = $sock->send($query->data);
	if (!defined $sent) {
		print "error=send: $!\n";
		exit 0;
	}
	my $buf;
	if (IO::Select->new($sock)->can_read(3) && $sock->recv($buf, 4096)) {
		my $reply = Net::DNS::Packet->new(\$buf);
		print "rcode=", $reply->header->rcode, "\n";
		print_answers($reply);
	} else {
		print "error=no reply\n";
	}
	exit 0;
}
my $res = Net::DNS::Resolver->new(nameservers => ['127.0.0.1'], usevc => $mode eq 'tcp' ? 1 : 0,
	udp_timeout => 3, tcp_timeout => 3, retry => 1, recurse => 1);
my $reply = $res->send($name, $type);
if ($reply) {
	print "rcode=", $reply->header->rcode, "\n";
	print_answers($reply);
} else {
	print "error=", $res->errorstring, "\n";
}
